// Package aws is the AWS connector: it collects the evidence an ISO 27001 auditor asks for
// (identity, logging, detection, data protection, network, vulnerability management) from
// the accounts and regions of an organisation with aws-sdk-go-v2, one artefact kind per
// evidence item of the catalogue, per account and, where regional, per region.
package aws

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// Version is recorded in every envelope; bump it when a document changes shape.
const Version = "1.1.0"

// assumeRoleDuration is how long assumed-role sessions last; the credentials cache renews
// them before they expire, so long collections never run on stale credentials.
const assumeRoleDuration = time.Hour

// Factory creates aws connectors.
type Factory struct{}

var _ connector.Factory = Factory{}

// Type implements connector.Factory.
func (Factory) Type() string { return "aws" }

// Version implements connector.Factory.
func (Factory) Version() string { return Version }

// Kinds implements connector.Factory.
func (Factory) Kinds() []connector.Kind { return connectorKinds() }

// Permissions implements connector.Factory: IAM actions, all read-only.
func (Factory) Permissions() []connector.Permission { return permissions() }

// New implements connector.Factory. It resolves secret references but does no network I/O.
func (Factory) New(settings connector.Settings, opts connector.Options) (connector.Connector, error) {
	return newConnector(settings, opts)
}

// Connector collects from the accounts and regions of one settings section.
type Connector struct {
	st   *Settings
	opts connector.Options

	static      aws.CredentialsProvider // nil: default chain
	externalIDs map[string]string       // account id → external id; "*" for organizations
	caBundle    *x509.CertPool          // credentials.ca_bundle_file; nil: the base transport's roots

	// The clients of one collection, set by baseConfig: the evidence and auth clients with
	// the CA bundle of the settings or of the SDK's chain.
	mu       sync.Mutex
	evidence aws.HTTPClient
	auth     aws.HTTPClient

	// backoff replaces the retryer's backoff (tests: no real sleeps). nil = SDK default.
	backoff retry.BackoffDelayer
	// wait pauses between credential report polls; tests replace it to advance a fake clock.
	wait func(ctx context.Context, d time.Duration) error
	// onOutput, if set, sees every decoded SDK output (tests check them against the SDK's
	// own enums).
	onOutput func(any)
}

var _ connector.Connector = (*Connector)(nil)

func newConnector(settings connector.Settings, opts connector.Options) (*Connector, error) {
	st, err := decodeSettings(settings)
	if err != nil {
		return nil, err
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Limits.MaxAttempts <= 0 {
		opts.Limits.MaxAttempts = connector.DefaultLimits.MaxAttempts
	}
	if opts.Limits.MaxPages <= 0 {
		opts.Limits.MaxPages = connector.DefaultLimits.MaxPages
	}
	c := &Connector{st: st, opts: opts, externalIDs: map[string]string{}, wait: connector.Sleep}
	cr := st.Credentials
	if cr.AccessKeyIDEnv != "" || cr.AccessKeyIDFile != "" {
		if opts.Secrets == nil {
			return nil, settings.Errorf("credentials", "static credentials need a secrets resolver")
		}
		id, err := opts.Secrets.Secret("access_key_id", cr.AccessKeyIDEnv, cr.AccessKeyIDFile)
		if err != nil {
			return nil, settings.Errorf("credentials", "%v", err)
		}
		secret, err := opts.Secrets.Secret("secret_access_key", cr.SecretAccessKeyEnv, cr.SecretAccessKeyFile)
		if err != nil {
			return nil, settings.Errorf("credentials", "%v", err)
		}
		var token []byte
		if cr.SessionTokenEnv != "" || cr.SessionTokenFile != "" {
			if token, err = opts.Secrets.Secret("session_token", cr.SessionTokenEnv, cr.SessionTokenFile); err != nil {
				return nil, settings.Errorf("credentials", "%v", err)
			}
		}
		c.static = credentials.NewStaticCredentialsProvider(string(id), string(secret), string(token))
	}
	if f := cr.CABundleFile; f != "" {
		if opts.Secrets == nil {
			return nil, settings.Errorf("credentials.ca_bundle_file", "a CA bundle file needs a secrets resolver")
		}
		pem, err := opts.Secrets.Secret("ca_bundle", "", f)
		if err != nil {
			return nil, settings.Errorf("credentials.ca_bundle_file", "%v", err)
		}
		c.caBundle = x509.NewCertPool()
		if !c.caBundle.AppendCertsFromPEM(pem) {
			return nil, settings.Errorf("credentials.ca_bundle_file", "%s holds no PEM certificate", f)
		}
	}
	for i, a := range st.Accounts {
		id, err := c.externalID(a.ExternalID, a.ExternalIDEnv, a.ExternalIDFile)
		if err != nil {
			return nil, settings.Errorf(fmt.Sprintf("accounts[%d]", i), "%v", err)
		}
		c.externalIDs[a.ID] = id
	}
	if o := st.Organizations; o != nil {
		id, err := c.externalID(o.ExternalID, o.ExternalIDEnv, o.ExternalIDFile)
		if err != nil {
			return nil, settings.Errorf("organizations", "%v", err)
		}
		c.externalIDs["*"] = id
	}
	return c, nil
}

func (c *Connector) externalID(lit, env, file string) (string, error) {
	if env == "" && file == "" {
		return lit, nil
	}
	if c.opts.Secrets == nil {
		return "", fmt.Errorf("external_id_env/external_id_file need a secrets resolver")
	}
	b, err := c.opts.Secrets.Secret("external_id", env, file)
	return string(b), err
}
