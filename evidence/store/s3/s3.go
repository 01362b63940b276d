// Package s3 keeps evidence in an S3 bucket (AWS S3, MinIO or another S3-compatible server)
// with minio-go.
//
// Keys: <prefix>sha256/ab/abcdef…, as in the fs store. Every upload carries the object's
// SHA-256 twice, as the signed payload hash (x-amz-content-sha256) and as the object checksum
// (x-amz-checksum-sha256): the server itself refuses a body that does not hash to the
// digest, so corrupted bytes are never stored, whatever the client did. With Object Lock
// configured, every object is written with a retention (COMPLIANCE or GOVERNANCE, a number of
// days from the upload) and optionally a legal hold, and New refuses a bucket without Object
// Lock. Objects are never overwritten: Put checks first, because under Object Lock an
// overwrite would add a version.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Options say where the bucket is and how to write to it.
type Options struct {
	// Endpoint is the server's URL, e.g. "http://127.0.0.1:9000" or
	// "https://s3.eu-central-1.amazonaws.com"; empty means AWS S3 (https://s3.amazonaws.com).
	// A URL without scheme is taken as https.
	Endpoint string
	Bucket   string
	// Prefix is put before every key, e.g. "exhibit/"; usually empty or ending in "/".
	Prefix string
	Region string
	// PathStyle addresses the bucket as endpoint/bucket instead of bucket.endpoint (MinIO
	// and most S3-compatible servers need it).
	PathStyle bool
	// AccessKey and SecretKey are resolved secrets; both empty means the AWS credential
	// chain (environment, shared credentials file, instance metadata).
	AccessKey, SecretKey string
	// ObjectLock, if set, puts every object under retention; nil writes without.
	ObjectLock *ObjectLock
	// Transport is the HTTP transport (tests, private CA bundles); nil uses minio-go's.
	Transport http.RoundTripper
}

// ObjectLock is the retention every object gets.
type ObjectLock struct {
	// Mode is COMPLIANCE (nobody, not even the root account, can delete or shorten it) or
	// GOVERNANCE (users with s3:BypassGovernanceRetention can).
	Mode string
	// RetainDays is how long each object is kept from its upload.
	RetainDays int
	// LegalHold also puts a legal hold on each object, which has no end date.
	LegalHold bool
}

// Store is a content-addressed store in an S3 bucket.
type Store struct {
	client *minio.Client
	core   minio.Core
	bucket string
	prefix string // key prefix, ending in "sha256/"
	lock   *ObjectLock
	name   string // "s3 <endpoint>/<bucket>/<prefix>", the start of every error
	now    func() time.Time
	// inflight shares one upload among concurrent Puts of the same digest.
	inflight flights
	// noConditional is set once the server has said it does not implement If-None-Match.
	noConditional atomic.Bool
}

var _ store.Store = (*Store)(nil)

// OpenRepo opens the evidence repository in the bucket: objects under Prefix+"objects/",
// run references under Prefix+"runs/".
func OpenRepo(ctx context.Context, opts Options) (*store.Repo, error) {
	objects, err := New(ctx, opts, "objects/")
	if err != nil {
		return nil, err
	}
	runs, err := New(ctx, opts, "runs/")
	if err != nil {
		return nil, err
	}
	return &store.Repo{Objects: objects, Runs: runs, Describe: "s3 " + describe(opts, opts.Prefix)}, nil
}

// New opens a store whose keys start with opts.Prefix+prefix. It checks that the bucket
// can be reached with the credentials and, when retention is configured, that the bucket
// has Object Lock enabled; it fails with a message that says what to fix otherwise.
func New(ctx context.Context, opts Options, prefix string) (*Store, error) {
	keyPrefix := opts.Prefix + prefix
	name := "s3 " + describe(opts, keyPrefix)
	if opts.Bucket == "" {
		return nil, fmt.Errorf("%s: no bucket configured", name)
	}
	if err := validateLock(opts.ObjectLock); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	endpoint, secure, err := parseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	creds := credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, "")
	if opts.AccessKey == "" && opts.SecretKey == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       opts.Region,
		BucketLookup: lookup,
		Transport:    opts.Transport,
		// Lets uploads carry x-amz-checksum-sha256 (minio-go only sends checksum headers
		// from clients that allow trailing checksums; we send it as a plain header).
		TrailingHeaders: true,
		// minio-go retries failed requests (rewinding the upload body). A retried upload
		// that had in fact landed meets If-None-Match and is then confirmed by a HEAD.
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: invalid configuration: %w", name, err)
	}
	s := &Store{
		client: client,
		core:   minio.Core{Client: client},
		bucket: opts.Bucket,
		prefix: keyPrefix + "sha256/",
		lock:   opts.ObjectLock,
		name:   name,
		now:    time.Now,
	}
	if err := s.checkBucket(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// describe names the backend location for messages: endpoint/bucket/prefix.
func describe(opts Options, prefix string) string {
	ep := opts.Endpoint
	if ep == "" {
		ep = "https://s3.amazonaws.com"
	}
	where := strings.TrimSuffix(ep, "/") + "/" + opts.Bucket
	if prefix != "" {
		where += "/" + prefix
	}
	return where
}

func parseEndpoint(ep string) (host string, secure bool, err error) {
	if ep == "" {
		return "s3.amazonaws.com", true, nil
	}
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", false, fmt.Errorf("invalid endpoint %q: %w", ep, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", false, fmt.Errorf("invalid endpoint %q: want an http:// or https:// URL", ep)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", false, fmt.Errorf("invalid endpoint %q: want scheme://host[:port] without a path (the bucket is configured apart)", ep)
	}
	return u.Host, u.Scheme == "https", nil
}

// checkBucket proves the bucket is reachable and, with retention configured, locked.
func (s *Store) checkBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("%s: could not reach bucket %q: %w", s.name, s.bucket, explain(err))
	}
	if !ok {
		return fmt.Errorf("%s: bucket %q does not exist (create it%s)", s.name, s.bucket, lockHint(s.lock))
	}
	if s.lock == nil {
		return nil
	}
	status, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.bucket)
	if err != nil && minio.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
		return fmt.Errorf("%s: could not read the Object Lock configuration of bucket %q: %w", s.name, s.bucket, explain(err))
	}
	if status != "Enabled" {
		return fmt.Errorf("%s: object_lock is configured (%s, %d days) but bucket %q does not have Object Lock enabled, "+
			"so stored evidence could be deleted or overwritten. Object Lock can only be turned on when a bucket is created: "+
			"create a new bucket with it (e.g. `mc mb --with-lock ALIAS/%s` or `aws s3api create-bucket --bucket %s "+
			"--object-lock-enabled-for-bucket`) and point store.s3.bucket at it, or remove store.s3.object_lock to store without retention",
			s.name, s.lock.Mode, s.lock.RetainDays, s.bucket, s.bucket, s.bucket)
	}
	return nil
}

func lockHint(l *ObjectLock) string {
	if l == nil {
		return ""
	}
	return " with Object Lock enabled, since object_lock is configured"
}

func validateLock(l *ObjectLock) error {
	if l == nil {
		return nil
	}
	if l.Mode != string(minio.Compliance) && l.Mode != string(minio.Governance) {
		return fmt.Errorf("object_lock mode %q: want COMPLIANCE or GOVERNANCE", l.Mode)
	}
	if l.RetainDays < 1 {
		return fmt.Errorf("object_lock retain_days %d: want at least 1", l.RetainDays)
	}
	return nil
}

// explain turns minio-go errors into messages an operator can act on. minio-go errors never
// contain the secret key.
func explain(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("server unreachable: %w", err)
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return fmt.Errorf("credentials refused (%s: %s): check the access key and secret key: %w", resp.Code, resp.Message, err)
	case "AccessDenied":
		return fmt.Errorf("access denied: the credentials lack a permission on the bucket: %w", err)
	}
	return err
}

func (s *Store) key(d evidence.Digest) string {
	h := d.String()
	return s.prefix + h[:2] + "/" + h
}

func (s *Store) errorf(op string, d evidence.Digest, err error) error {
	return fmt.Errorf("%s: %s %s: %w", s.name, op, d, err)
}

// isNotFound reports whether err says the key does not exist.
func isNotFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound"
}

// Get implements store.Store. The reader re-hashes the object as it is read.
func (s *Store) Get(ctx context.Context, d evidence.Digest) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("get", d, err)
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, s.key(d), minio.GetObjectOptions{})
	if isNotFound(err) {
		return nil, s.errorf("get", d, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.errorf("get", d, explain(err))
	}
	return store.NewVerifyingReader(body, d, s.name+": object "+d.String()), nil
}

// Stat implements store.Store. RetainUntil is the object's Object Lock retention, if any.
func (s *Store) Stat(ctx context.Context, d evidence.Digest) (store.Info, error) {
	return s.stat(ctx, "stat", d)
}

// stat is Stat with errors named after the operation op that needed it.
func (s *Store) stat(ctx context.Context, op string, d evidence.Digest) (store.Info, error) {
	if err := ctx.Err(); err != nil {
		return store.Info{}, s.errorf(op, d, err)
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.key(d), minio.StatObjectOptions{})
	if err != nil {
		return store.Info{}, s.statError(op, d, err)
	}
	return store.Info{Digest: d, Size: oi.Size, ModTime: oi.LastModified, RetainUntil: retentionOf(oi).RetainUntil}, nil
}

func (s *Store) statError(op string, d evidence.Digest, err error) error {
	if isNotFound(err) {
		return s.errorf(op, d, store.ErrNotFound)
	}
	return s.errorf(op, d, explain(err))
}

// List implements store.Store. Keys under the prefix that are not objects are skipped.
func (s *Store) List(ctx context.Context, fn func(store.Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Cancelling stops minio-go's listing goroutine when we return early.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if oi.Err != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%s: list: %w", s.name, explain(oi.Err))
		}
		d, ok := s.parseKey(oi.Key)
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(store.Info{Digest: d, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// parseKey parses <prefix>ab/<64 lower-case hex digits starting with ab>.
func (s *Store) parseKey(key string) (evidence.Digest, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok || len(rest) != 2+1+64 || rest[2] != '/' || rest[:2] != rest[3:5] {
		return evidence.Digest{}, false
	}
	h := rest[3:]
	if strings.ToLower(h) != h {
		return evidence.Digest{}, false
	}
	d, err := evidence.ParseDigest(h)
	return d, err == nil
}
