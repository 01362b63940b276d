package miniotest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence/store/s3/miniotest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.Stop()
	os.Exit(code)
}

func TestStartOnceAndBuckets(t *testing.T) {
	srv := miniotest.Start(t)
	if again := miniotest.Start(t); again != srv {
		t.Errorf("second Start returned another server: %+v, want %+v", again, srv)
	}
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Errorf("endpoint %q is not on loopback", srv.Endpoint)
	}
	ctx := context.Background()
	c := srv.Client(t)
	for _, tc := range []struct {
		name string
		lock bool
		want string
	}{
		{"plain", false, ""},
		{"object lock", true, "Enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := srv.Bucket(t, tc.lock)
			if ok, err := c.BucketExists(ctx, b); err != nil || !ok {
				t.Fatalf("bucket %s: exists %v, %v", b, ok, err)
			}
			status, _, _, _, _ := c.GetObjectLockConfig(ctx, b)
			if status != tc.want {
				t.Errorf("bucket %s Object Lock %q, want %q", b, status, tc.want)
			}
		})
	}
	if a, b := srv.Bucket(t, false), srv.Bucket(t, false); a == b {
		t.Errorf("two buckets with one name %s", a)
	}
}
