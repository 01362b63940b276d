package s3

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/s3/miniotest"
)

// TestObjectLockKeepsVersions writes an object under each retention and then attacks it with
// a plain client holding the root credentials: deleting its version and overwriting its key.
// The original version must survive and still verify.
func TestObjectLockKeepsVersions(t *testing.T) {
	srv := miniotest.Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		lock ObjectLock
		// bypass also tries to delete with the governance bypass, which root may use.
		bypass         bool
		deleteRefused  bool
		bypassDeletes  bool
		legalHoldValue minio.LegalHoldStatus
	}{
		{name: "compliance", lock: ObjectLock{Mode: "COMPLIANCE", RetainDays: 3}, bypass: true, deleteRefused: true},
		{name: "governance", lock: ObjectLock{Mode: "GOVERNANCE", RetainDays: 3}, deleteRefused: true},
		{name: "governance with bypass", lock: ObjectLock{Mode: "GOVERNANCE", RetainDays: 3}, bypass: true, bypassDeletes: true},
		{name: "governance with legal hold", lock: ObjectLock{Mode: "GOVERNANCE", RetainDays: 3, LegalHold: true}, bypass: true, deleteRefused: true, legalHoldValue: minio.LegalHoldEnabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := options(t, srv, true)
			opts.ObjectLock = &tc.lock
			s := open(t, opts)
			// A fixed clock, so the expected retention is exact (S3 keeps whole seconds).
			now := time.Now().UTC().Truncate(time.Second)
			s.now = func() time.Time { return now }
			b := []byte("evidence under " + tc.name)
			ref, err := store.PutBytes(ctx, s, b, "")
			if err != nil {
				t.Fatal(err)
			}
			key := s.key(ref.Digest)

			wantUntil := now.Add(time.Duration(tc.lock.RetainDays) * 24 * time.Hour)
			info, err := s.Stat(ctx, ref.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if !info.RetainUntil.Equal(wantUntil) {
				t.Errorf("Stat RetainUntil = %v, want %v", info.RetainUntil, wantUntil)
			}
			ret, err := s.Retention(ctx, ref.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if ret.Mode != tc.lock.Mode || !ret.RetainUntil.Equal(wantUntil) || ret.LegalHold != tc.lock.LegalHold {
				t.Errorf("Retention = %+v, want mode %s until %v legal hold %v", ret, tc.lock.Mode, wantUntil, tc.lock.LegalHold)
			}
			oi, err := c.StatObject(ctx, opts.Bucket, key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			version := oi.VersionID
			if version == "" {
				t.Fatal("locked bucket returned no version id")
			}

			// Delete the version itself (a delete without version only adds a marker).
			err = c.RemoveObject(ctx, opts.Bucket, key, minio.RemoveObjectOptions{VersionID: version})
			if tc.deleteRefused && err == nil {
				t.Fatalf("deleting the locked version %s succeeded", version)
			}
			if tc.bypass {
				err = c.RemoveObject(ctx, opts.Bucket, key, minio.RemoveObjectOptions{VersionID: version, GovernanceBypass: true})
				if tc.deleteRefused && err == nil {
					t.Fatalf("deleting the locked version %s with governance bypass succeeded", version)
				}
				if tc.bypassDeletes {
					if err != nil {
						t.Fatalf("governance bypass by root did not delete: %v", err)
					}
					return // GOVERNANCE is deletable by design with the bypass permission
				}
			}

			// Overwrite the key with other bytes: at most a new version on top.
			other := []byte("replaced evidence")
			c.PutObject(ctx, opts.Bucket, key, bytes.NewReader(other), int64(len(other)), minio.PutObjectOptions{})

			rc, err := c.GetObject(ctx, opts.Bucket, key, minio.GetObjectOptions{VersionID: version})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("reading the original version after the attacks: %v", err)
			}
			if !bytes.Equal(got, b) || evidence.Sum(got) != ref.Digest {
				t.Errorf("original version reads %q, want %q", got, b)
			}
			// The store never accepts the replacement as the evidence.
			if _, err := store.GetBytes(ctx, s, ref.Digest); err == nil {
				t.Error("Get returned the overwritten object as valid")
			}
		})
	}
}

// TestConcurrentPutsMakeOneVersion: under Object Lock every version is kept for years, so
// concurrent Puts of one digest, through one Store or several, must not add versions.
func TestConcurrentPutsMakeOneVersion(t *testing.T) {
	srv := miniotest.Start(t)
	opts := options(t, srv, true)
	opts.ObjectLock = &ObjectLock{Mode: "COMPLIANCE", RetainDays: 1}
	stores := []*Store{open(t, opts), open(t, opts)} // two stores stand for two processes
	b := bytes.Repeat([]byte("concurrent evidence "), 50_000)
	d := evidence.Sum(b)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- stores[i%2].Put(context.Background(), d, bytes.NewReader(b), int64(len(b)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Put: %v", err)
		}
	}
	versions := 0
	for oi := range srv.Client(t).ListObjects(context.Background(), opts.Bucket, minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		if strings.HasSuffix(oi.Key, d.String()) {
			versions++
		}
	}
	if versions != 1 {
		t.Errorf("concurrent Puts of one object made %d versions, want 1", versions)
	}
}
