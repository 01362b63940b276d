package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/evidence/store"
	s3store "github.com/exhibit-dev/exhibit/evidence/store/s3"
)

// openS3Repo opens the S3 store the config describes: secrets resolved from their
// references, an optional private CA, Object Lock checked against the bucket.
func openS3Repo(ctx context.Context, cfg *config.Config) (*store.Repo, error) {
	s := cfg.Store.S3
	opts := s3store.Options{
		Endpoint:  s.Endpoint,
		Bucket:    s.Bucket,
		Prefix:    s.Prefix,
		Region:    s.Region,
		PathStyle: s.PathStyle,
	}
	if s.AccessKeyEnv != "" || s.AccessKeyFile != "" {
		secrets := cfg.Secrets()
		ak, err := secrets.Secret("store.s3.access_key", s.AccessKeyEnv, s.AccessKeyFile)
		if err != nil {
			return nil, cfg.Errorf("store.s3.access_key_env", "%v", err)
		}
		sk, err := secrets.Secret("store.s3.secret_key", s.SecretKeyEnv, s.SecretKeyFile)
		if err != nil {
			return nil, cfg.Errorf("store.s3.secret_key_env", "%v", err)
		}
		opts.AccessKey, opts.SecretKey = string(ak), string(sk)
	}
	if ol := s.ObjectLock; ol != nil {
		opts.ObjectLock = &s3store.ObjectLock{Mode: ol.Mode, RetainDays: ol.RetainDays, LegalHold: ol.LegalHold}
	}
	if s.CAFile != "" {
		pem, err := config.ReadFile(cfg.Resolve(s.CAFile), config.MaxConfigSize)
		if err != nil {
			return nil, cfg.Errorf("store.s3.ca_file", "could not read the CA bundle: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cfg.Errorf("store.s3.ca_file", "%s holds no PEM certificate", s.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		opts.Transport = tr
	}
	repo, err := s3store.OpenRepo(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("could not open the evidence store: %w", err)
	}
	return repo, nil
}
