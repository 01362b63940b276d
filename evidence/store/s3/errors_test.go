package s3

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/s3/miniotest"
)

// closedEndpoint returns the URL of a 127.0.0.1 port nobody listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestNewErrors(t *testing.T) {
	srv := miniotest.Start(t)
	plain := srv.Bucket(t, false)
	locked := srv.Bucket(t, true)
	base := Options{Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	compliance := &ObjectLock{Mode: "COMPLIANCE", RetainDays: 2555}
	for _, tc := range []struct {
		name   string
		change func(o *Options)
		want   []string // all must appear in the error
	}{
		{
			name:   "retention configured, bucket without object lock",
			change: func(o *Options) { o.Bucket = plain; o.ObjectLock = compliance },
			want:   []string{srv.Endpoint + "/" + plain, `bucket "` + plain + `" does not have Object Lock enabled`, "create a new bucket", "--with-lock", "remove store.s3.object_lock"},
		},
		{
			name:   "wrong secret key",
			change: func(o *Options) { o.Bucket = plain; o.SecretKey = "not-the-secret-key" },
			want:   []string{srv.Endpoint + "/" + plain, "credentials refused", "SignatureDoesNotMatch"},
		},
		{
			name:   "unknown access key",
			change: func(o *Options) { o.Bucket = plain; o.AccessKey = "nobody" },
			want:   []string{srv.Endpoint + "/" + plain, "credentials refused", "InvalidAccessKeyId"},
		},
		{
			name:   "missing bucket",
			change: func(o *Options) { o.Bucket = "no-such-bucket"; o.ObjectLock = compliance },
			want:   []string{`bucket "no-such-bucket" does not exist`, "with Object Lock enabled"},
		},
		{
			name:   "unreachable endpoint",
			change: func(o *Options) { o.Bucket = plain; o.Endpoint = closedEndpoint(t) },
			want:   []string{"/" + plain + ": ", `could not reach bucket "` + plain + `"`, "server unreachable", "connection refused"},
		},
		{
			name:   "endpoint with a path",
			change: func(o *Options) { o.Bucket = plain; o.Endpoint = srv.Endpoint + "/" + plain },
			want:   []string{"invalid endpoint", "without a path"},
		},
		{
			name:   "invalid retention mode",
			change: func(o *Options) { o.Bucket = locked; o.ObjectLock = &ObjectLock{Mode: "compliance", RetainDays: 1} },
			want:   []string{`object_lock mode "compliance"`, "COMPLIANCE or GOVERNANCE"},
		},
		{
			name:   "no retention days",
			change: func(o *Options) { o.Bucket = locked; o.ObjectLock = &ObjectLock{Mode: "GOVERNANCE"} },
			want:   []string{"retain_days 0"},
		},
		{
			name:   "no bucket",
			change: func(o *Options) {},
			want:   []string{"no bucket configured"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := base
			tc.change(&opts)
			_, err := New(context.Background(), opts, "")
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, secret := range []string{srv.SecretKey, "not-the-secret-key"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains a secret key", err)
				}
			}
		})
	}

	// The right bucket with the same settings works: the failures above are the settings'.
	opts := base
	opts.Bucket = locked
	opts.ObjectLock = compliance
	if _, err := New(context.Background(), opts, ""); err != nil {
		t.Errorf("New on a bucket with Object Lock: %v", err)
	}
}

// TestPutServerGone: the server goes away after New; Put names the backend and the object
// and stores nothing.
func TestPutServerGone(t *testing.T) {
	srv := miniotest.Start(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	opts := options(t, srv, false)
	opts.Endpoint = proxy.URL
	s := open(t, opts)
	proxy.Close()

	b := []byte("evidence that cannot be stored now")
	d := evidence.Sum(b)
	err = s.Put(context.Background(), d, bytes.NewReader(b), int64(len(b)))
	if err == nil {
		t.Fatal("Put without a server succeeded")
	}
	for _, w := range []string{"s3 " + proxy.URL + "/" + opts.Bucket + ": ", "put " + d.String(), "server unreachable"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	direct := open(t, Options{Endpoint: srv.Endpoint, Bucket: opts.Bucket, Region: "us-east-1", PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if _, err := direct.Stat(context.Background(), d); err == nil {
		t.Error("the object is stored although Put failed")
	}
}
