package s3

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/s3/miniotest"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.Stop()
	os.Exit(code)
}

// options returns store options for a fresh bucket on the test MinIO server.
func options(t *testing.T, srv miniotest.Server, objectLock bool) Options {
	t.Helper()
	return Options{
		Endpoint:  srv.Endpoint,
		Bucket:    srv.Bucket(t, objectLock),
		Region:    "us-east-1",
		PathStyle: true,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
	}
}

func open(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := New(context.Background(), opts, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tamper writes other bytes under the object's key with a plain client, the way someone
// with write access to the bucket could (on a versioned bucket it adds a version).
func tamper(c *minio.Client) func(store.Store, evidence.Digest) error {
	return func(st store.Store, d evidence.Digest) error {
		s := st.(*Store)
		b := []byte("tampered evidence")
		_, err := c.PutObject(context.Background(), s.bucket, s.key(d), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{})
		return err
	}
}

func TestConformance(t *testing.T) {
	srv := miniotest.Start(t)
	for _, tc := range []struct {
		name string
		lock *ObjectLock
	}{
		{"plain bucket", nil},
		{"object lock", &ObjectLock{Mode: "COMPLIANCE", RetainDays: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				opts := options(t, srv, tc.lock != nil)
				opts.Prefix = "exhibit/"
				opts.ObjectLock = tc.lock
				return open(t, opts)
			}, storetest.Options{Corrupt: tamper(srv.Client(t))})
		})
	}
}

func TestOpenRepoLayout(t *testing.T) {
	srv := miniotest.Start(t)
	opts := options(t, srv, false)
	opts.Prefix = "evidence/"
	repo, err := OpenRepo(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "s3 " + srv.Endpoint + "/" + opts.Bucket + "/evidence/"; repo.Describe != want {
		t.Errorf("Describe = %q, want %q", repo.Describe, want)
	}
	ctx := context.Background()
	obj, err := store.PutBytes(ctx, repo.Objects, []byte("object"), "")
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.PutBytes(ctx, repo.Runs, []byte("run ref"), "")
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client(t)
	for _, tc := range []struct {
		name string
		d    evidence.Digest
		sub  string
	}{
		{"object", obj.Digest, "objects"},
		{"run reference", run.Digest, "runs"},
	} {
		h := tc.d.String()
		key := "evidence/" + tc.sub + "/sha256/" + h[:2] + "/" + h
		if _, err := c.StatObject(ctx, opts.Bucket, key, minio.StatObjectOptions{}); err != nil {
			t.Errorf("%s not at %s: %v", tc.name, key, err)
		}
	}
}

// recorder remembers the uploads a client sends and what the server answered.
type recorder struct {
	mu      sync.Mutex
	base    http.RoundTripper
	uploads []upload
}

type upload struct {
	payloadHash, checksum string
	status                int
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if req.Method == http.MethodPut && err == nil {
		r.mu.Lock()
		r.uploads = append(r.uploads, upload{req.Header.Get("X-Amz-Content-Sha256"), req.Header.Get("X-Amz-Checksum-Sha256"), resp.StatusCode})
		r.mu.Unlock()
	}
	return resp, err
}

// TestServerRefusesWrongContent offers bytes that do not match the digest. The client sends
// them unchecked; the server must refuse them (not only our code), and nothing is stored.
func TestServerRefusesWrongContent(t *testing.T) {
	srv := miniotest.Start(t)
	rec := &recorder{base: http.DefaultTransport}
	opts := options(t, srv, false)
	opts.Transport = rec
	s := open(t, opts)

	claimed := []byte("the evidence as it was collected")
	offered := []byte("the evidence as someone changed it")[:len(claimed)]
	d := evidence.Sum(claimed)
	err := s.Put(context.Background(), d, bytes.NewReader(offered), int64(len(offered)))
	if !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("Put of other bytes: got %v, want ErrDigestMismatch", err)
	}
	if !strings.Contains(err.Error(), "server refused") {
		t.Errorf("error %q does not say the server refused the content", err)
	}
	if len(rec.uploads) == 0 {
		t.Fatal("no upload reached the server: the refusal came from the client")
	}
	for _, u := range rec.uploads {
		if u.payloadHash != d.String() {
			t.Errorf("upload signed payload hash %q, want the digest %s", u.payloadHash, d)
		}
		if u.status < 400 {
			t.Errorf("server answered %d to a body that does not match its digest", u.status)
		}
	}
	if _, err := srv.Client(t).StatObject(context.Background(), opts.Bucket, s.key(d), minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("the refused object is in the bucket: %v", err)
	}
}

// TestUploadCarriesChecksum checks that a good upload sends the object's SHA-256 both as
// signed payload hash and as checksum header, and that the server kept the checksum.
func TestUploadCarriesChecksum(t *testing.T) {
	srv := miniotest.Start(t)
	rec := &recorder{base: http.DefaultTransport}
	opts := options(t, srv, false)
	opts.Transport = rec
	s := open(t, opts)
	ref, err := store.PutBytes(context.Background(), s, []byte("checked twice"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.uploads) != 1 {
		t.Fatalf("want 1 upload, got %d", len(rec.uploads))
	}
	u := rec.uploads[0]
	if u.payloadHash != ref.Digest.String() || u.status != http.StatusOK {
		t.Errorf("upload payload hash %q status %d, want %s and 200", u.payloadHash, u.status, ref.Digest)
	}
	oi, err := srv.Client(t).StatObject(context.Background(), opts.Bucket, s.key(ref.Digest), minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := checksumOf(ref.Digest); oi.ChecksumSHA256 != want {
		t.Errorf("stored checksum %q, want %q", oi.ChecksumSHA256, want)
	}
}
