package aws

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/accessanalyzer"
	"github.com/aws/aws-sdk-go-v2/service/account"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/macie2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	"github.com/aws/smithy-go/middleware"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// services are the keys of `endpoints:` and `service_concurrency:`: the SDK package names.
var services = []string{
	"accessanalyzer", "account", "acm", "backup", "cloudtrail", "cloudwatch", "cloudwatchlogs", "configservice",
	"ec2", "elasticloadbalancingv2", "guardduty", "iam", "inspector2", "kms", "macie2", "organizations", "rds", "s3",
	"s3control", "secretsmanager", "securityhub", "sns", "ssm", "sts",
}

// Services returns the service names accepted in endpoints and service_concurrency.
func Services() []string { return append([]string(nil), services...) }

func knownService(s string) bool {
	for _, x := range services {
		if x == s {
			return true
		}
	}
	return false
}

// retryer returns the SDK's standard retryer with the run's bounded attempts. The
// client-side retry quota is off: the attempts bound is the budget, and a quota error
// would turn a few throttles in one account into gaps in all of them.
func (c *Connector) retryer() func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = c.opts.Limits.MaxAttempts
			o.RateLimiter = ratelimit.None
			if m := c.opts.Limits.MaxRetryAfter; m > 0 && m < o.MaxBackoff {
				o.MaxBackoff = m
			}
			if c.backoff != nil {
				o.Backoff = c.backoff
			}
		})
	}
}

// baseConfig returns the configuration of the base credentials in the home region. With
// static keys it reads nothing from the environment; otherwise (default_chain or a
// profile) the SDK's default chain (env, shared config and profile, SSO, IMDS, IRSA)
// resolves them, fetching tokens through an unrecorded client, so credential exchanges are
// never captured as evidence. A CA bundle from the settings, or from the chain
// (AWS_CA_BUNDLE, a profile's ca_bundle), is trusted by evidence and auth requests alike.
func (c *Connector) baseConfig(ctx context.Context) (aws.Config, error) {
	roots := c.caBundle
	var cfg aws.Config
	if c.static != nil {
		cfg = aws.Config{
			Region:      c.st.HomeRegion,
			Credentials: aws.NewCredentialsCache(c.static),
			Retryer:     c.retryer(),
			APIOptions:  c.apiOptions(),
		}
	} else {
		opts := []func(*awsconfig.LoadOptions) error{
			awsconfig.WithRegion(c.st.HomeRegion),
			awsconfig.WithHTTPClient(c.chainHTTPClient()),
			awsconfig.WithRetryer(c.retryer()),
		}
		if c.st.Credentials.Profile != "" {
			opts = append(opts, awsconfig.WithSharedConfigProfile(c.st.Credentials.Profile))
		}
		var err error
		if cfg, err = awsconfig.LoadDefaultConfig(ctx, opts...); err != nil {
			return aws.Config{}, fmt.Errorf("could not load the AWS default credential chain: %w", err)
		}
		if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
			if t := bc.GetTransport().TLSClientConfig; t != nil && t.RootCAs != nil {
				roots = t.RootCAs
			}
		}
		cfg.Region = c.st.HomeRegion
		cfg.APIOptions = append(cfg.APIOptions, c.apiOptions()...)
	}
	evidence, auth := aws.HTTPClient(c.opts.HTTPClient), aws.HTTPClient(c.authBase())
	if roots != nil {
		evidence = connector.WithBase(c.opts.HTTPClient, trusting(roots))
		auth = connector.WithBase(c.authBase(), trusting(roots))
	}
	c.mu.Lock()
	c.evidence, c.auth = evidence, auth
	c.mu.Unlock()
	cfg.HTTPClient = evidence
	return cfg, nil
}

// chainHTTPClient is the client the SDK's chain fetches credentials with: a BuildableClient
// (the SDK adds AWS_CA_BUNDLE only to those) that connects as the auth client's transport
// does (proxy, dialer, TLS settings) and trusts the settings' CA bundle. An auth client
// with another kind of transport is used as it is.
func (c *Connector) chainHTTPClient() aws.HTTPClient {
	base := c.authBase()
	tr, ok := base.Transport.(*http.Transport)
	switch {
	case base.Transport == nil:
		tr = http.DefaultTransport.(*http.Transport)
	case !ok:
		return base
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.Proxy, t.DialContext = tr.Proxy, tr.DialContext
		if tr.TLSClientConfig != nil {
			t.TLSClientConfig = tr.TLSClientConfig.Clone()
		}
		if c.caBundle != nil {
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			t.TLSClientConfig.RootCAs = c.caBundle.Clone()
		}
	})
}

// trusting returns a base transport wrapper that trusts only roots (as the SDK does with a
// CA bundle). It needs an *http.Transport under the client; any other transport fails
// every request with an error that says so, rather than ignoring the bundle.
func trusting(roots *x509.CertPool) func(http.RoundTripper) http.RoundTripper {
	return func(base http.RoundTripper) http.RoundTripper {
		tr, ok := base.(*http.Transport)
		if !ok {
			return failingTransport{fmt.Errorf("a CA bundle cannot be applied to the transport %T", base)}
		}
		tr = tr.Clone()
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = roots
		return tr
	}
}

type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// assumeRole returns a configuration whose credentials come from assuming roleARN with
// the base configuration. STS calls go through the auth client: they return credentials,
// which are not evidence and must not be stored.
func (c *Connector) assumeRole(base aws.Config, roleARN, externalID string) aws.Config {
	stsCfg := base.Copy()
	stsCfg.HTTPClient = c.authHTTPClient()
	client := sts.NewFromConfig(stsCfg, func(o *sts.Options) { c.override(&o.BaseEndpoint, "sts") })
	provider := stscreds.NewAssumeRoleProvider(client, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "exhibit-" + sanitizeSession(c.opts.Instance)
		o.Duration = assumeRoleDuration
		if externalID != "" {
			o.ExternalID = aws.String(externalID)
		}
	})
	cfg := base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(provider)
	return cfg
}

// authHTTPClient is the client for credential exchanges (STS): it does not capture,
// because token responses are credentials, not evidence. It trusts the collection's CA
// bundle (see baseConfig).
func (c *Connector) authHTTPClient() aws.HTTPClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.auth != nil {
		return c.auth
	}
	return c.authBase()
}

// authBase is the runner's auth client, or a plain one (tests).
func (c *Connector) authBase() *http.Client {
	if c.opts.AuthHTTPClient != nil {
		return c.opts.AuthHTTPClient
	}
	return &http.Client{}
}

func sanitizeSession(s string) string {
	out := []rune{}
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '@' || r == '=' || r == ',' {
			out = append(out, r)
		}
	}
	if len(out) > 56 {
		out = out[:56]
	}
	if len(out) == 0 {
		return "collector"
	}
	return string(out)
}

func (c *Connector) override(dst **string, svc string) {
	if e := c.st.endpoint(svc); e != "" {
		*dst = aws.String(e)
	}
}

// fixedS3ControlEndpoint resolves every S3 Control request to the overridden endpoint.
// The SDK's rules would prefix the host with the account id ({account}.host), which a
// simulator or proxy on one address cannot serve; the account id still travels in the
// x-amz-account-id header.
type fixedS3ControlEndpoint struct{ u url.URL }

func (f fixedS3ControlEndpoint) ResolveEndpoint(ctx context.Context, p s3control.EndpointParameters) (smithyendpoints.Endpoint, error) {
	return smithyendpoints.Endpoint{URI: f.u}, nil
}

// clients builds the SDK clients of one account and region, with endpoint overrides.
type clients struct {
	c   *Connector
	cfg aws.Config
}

func (k clients) iam() *iam.Client {
	return iam.NewFromConfig(k.cfg, func(o *iam.Options) { k.c.override(&o.BaseEndpoint, "iam") })
}
func (k clients) sts() *sts.Client {
	return sts.NewFromConfig(k.cfg, func(o *sts.Options) { k.c.override(&o.BaseEndpoint, "sts") })
}
func (k clients) organizations() *organizations.Client {
	return organizations.NewFromConfig(k.cfg, func(o *organizations.Options) { k.c.override(&o.BaseEndpoint, "organizations") })
}
func (k clients) accessanalyzer() *accessanalyzer.Client {
	return accessanalyzer.NewFromConfig(k.cfg, func(o *accessanalyzer.Options) { k.c.override(&o.BaseEndpoint, "accessanalyzer") })
}
func (k clients) account() *account.Client {
	return account.NewFromConfig(k.cfg, func(o *account.Options) { k.c.override(&o.BaseEndpoint, "account") })
}
func (k clients) acm() *acm.Client {
	return acm.NewFromConfig(k.cfg, func(o *acm.Options) { k.c.override(&o.BaseEndpoint, "acm") })
}
func (k clients) backup() *backup.Client {
	return backup.NewFromConfig(k.cfg, func(o *backup.Options) { k.c.override(&o.BaseEndpoint, "backup") })
}
func (k clients) cloudtrail(region string) *cloudtrail.Client {
	return cloudtrail.NewFromConfig(k.cfg, func(o *cloudtrail.Options) {
		if region != "" {
			o.Region = region
		}
		k.c.override(&o.BaseEndpoint, "cloudtrail")
	})
}
func (k clients) logs() *cloudwatchlogs.Client {
	return cloudwatchlogs.NewFromConfig(k.cfg, func(o *cloudwatchlogs.Options) { k.c.override(&o.BaseEndpoint, "cloudwatchlogs") })
}
func (k clients) cloudwatch() *cloudwatch.Client {
	return cloudwatch.NewFromConfig(k.cfg, func(o *cloudwatch.Options) { k.c.override(&o.BaseEndpoint, "cloudwatch") })
}
func (k clients) sns() *sns.Client {
	return sns.NewFromConfig(k.cfg, func(o *sns.Options) { k.c.override(&o.BaseEndpoint, "sns") })
}
func (k clients) config() *configservice.Client {
	return configservice.NewFromConfig(k.cfg, func(o *configservice.Options) { k.c.override(&o.BaseEndpoint, "configservice") })
}
func (k clients) ec2() *ec2.Client {
	return ec2.NewFromConfig(k.cfg, func(o *ec2.Options) { k.c.override(&o.BaseEndpoint, "ec2") })
}
func (k clients) elbv2() *elbv2.Client {
	return elbv2.NewFromConfig(k.cfg, func(o *elbv2.Options) { k.c.override(&o.BaseEndpoint, "elasticloadbalancingv2") })
}
func (k clients) guardduty() *guardduty.Client {
	return guardduty.NewFromConfig(k.cfg, func(o *guardduty.Options) { k.c.override(&o.BaseEndpoint, "guardduty") })
}
func (k clients) inspector2() *inspector2.Client {
	return inspector2.NewFromConfig(k.cfg, func(o *inspector2.Options) { k.c.override(&o.BaseEndpoint, "inspector2") })
}
func (k clients) kms() *kms.Client {
	return kms.NewFromConfig(k.cfg, func(o *kms.Options) { k.c.override(&o.BaseEndpoint, "kms") })
}
func (k clients) macie2() *macie2.Client {
	return macie2.NewFromConfig(k.cfg, func(o *macie2.Options) { k.c.override(&o.BaseEndpoint, "macie2") })
}
func (k clients) rds() *rds.Client {
	return rds.NewFromConfig(k.cfg, func(o *rds.Options) { k.c.override(&o.BaseEndpoint, "rds") })
}

// s3 returns an S3 client for region; with an endpoint override it uses path-style
// addressing, which simulators and S3-compatible servers need.
func (k clients) s3(region string) *s3.Client {
	return s3.NewFromConfig(k.cfg, func(o *s3.Options) {
		if region != "" {
			o.Region = region
		}
		if e := k.c.st.endpoint("s3"); e != "" {
			o.BaseEndpoint = aws.String(e)
			o.UsePathStyle = true
		}
	})
}
func (k clients) s3control() *s3control.Client {
	return s3control.NewFromConfig(k.cfg, func(o *s3control.Options) {
		if e := k.c.st.endpoint("s3control"); e != "" {
			if u, err := url.Parse(e); err == nil {
				o.EndpointResolverV2 = fixedS3ControlEndpoint{u: *u}
			}
		}
	})
}
func (k clients) secretsmanager() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(k.cfg, func(o *secretsmanager.Options) { k.c.override(&o.BaseEndpoint, "secretsmanager") })
}
func (k clients) securityhub() *securityhub.Client {
	return securityhub.NewFromConfig(k.cfg, func(o *securityhub.Options) { k.c.override(&o.BaseEndpoint, "securityhub") })
}
func (k clients) ssm() *ssm.Client {
	return ssm.NewFromConfig(k.cfg, func(o *ssm.Options) { k.c.override(&o.BaseEndpoint, "ssm") })
}

// apiOptions hands every decoded output to onOutput, when set.
func (c *Connector) apiOptions() []func(*middleware.Stack) error {
	if c.onOutput == nil {
		return nil
	}
	observe := middleware.InitializeMiddlewareFunc("ExhibitObserveOutput", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleInitialize(ctx, in)
		if err == nil {
			c.onOutput(out.Result)
		}
		return out, md, err
	})
	return []func(*middleware.Stack) error{func(s *middleware.Stack) error { return s.Initialize.Add(observe, middleware.Before) }}
}
