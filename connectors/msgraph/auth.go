package msgraph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	u "net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	azureauth "github.com/microsoft/kiota-authentication-azure-go"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// authClient adapts the client for token requests to azcore's Transporter. Token
// responses are credentials, never evidence: the exchange recorder is hidden from the
// request even when the fallback to Options.HTTPClient (whose transport captures) is used.
type authClient struct{ c *http.Client }

func (a authClient) Do(req *http.Request) (*http.Response, error) {
	return a.c.Do(req.WithContext(connector.Unrecorded(req.Context())))
}

var _ policy.Transporter = authClient{}

// newCredential builds the azidentity credential the settings ask for. Secrets are read
// through Options.Secrets; the federated token file is re-read at every token request.
func newCredential(cfg *tenantConfig, opts connector.Options) (azcore.TokenCredential, error) {
	hc := opts.AuthHTTPClient
	if hc == nil {
		hc = opts.HTTPClient
	}
	if hc == nil {
		hc = &http.Client{}
	}
	co := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.authority},
		Transport: authClient{hc},
		Retry:     policy.RetryOptions{MaxRetries: int32(max(opts.Limits.MaxAttempts-1, 0))},
	}
	// Instance discovery asks login.microsoftonline.com about the authority; an authority
	// that is not one of the national clouds (a private cloud, the simulator) has no entry.
	known := false
	for _, c := range clouds {
		if c[0] == cfg.authority {
			known = true
		}
	}
	switch cfg.credential {
	case "secret":
		secret, err := opts.Secrets.Secret("client_secret", cfg.ClientSecretEnv, cfg.ClientSecretFile)
		if err != nil {
			return nil, err
		}
		return azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, string(secret),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: !known})
	case "certificate":
		data, err := opts.Secrets.Secret("certificate", cfg.CertificateEnv, cfg.CertificateFile)
		if err != nil {
			return nil, err
		}
		var password []byte
		if cfg.CertificatePasswordEnv != "" || cfg.CertificatePasswordFile != "" {
			if password, err = opts.Secrets.Secret("certificate_password", cfg.CertificatePasswordEnv, cfg.CertificatePasswordFile); err != nil {
				return nil, err
			}
		}
		certs, key, err := azidentity.ParseCertificates(data, password)
		if err != nil {
			// The parser's message names the format problem, never the key.
			return nil, fmt.Errorf("certificate: could not parse the certificate and private key (PEM or PKCS#12): %w", err)
		}
		return azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: !known, SendCertificateChain: true})
	case "federated":
		file := cfg.FederatedTokenFile
		assertion := func(context.Context) (string, error) {
			b, err := opts.Secrets.Secret("federated_token", "", file)
			if err != nil {
				return "", err
			}
			return string(b), nil
		}
		return azidentity.NewClientAssertionCredential(cfg.TenantID, cfg.ClientID, assertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: !known})
	}
	return nil, fmt.Errorf("unknown credential %q", cfg.credential)
}

// newAuthProvider returns the Kiota authentication provider: azidentity through Kiota's
// Azure provider, or the static token (loopback simulators only, checked in config).
func newAuthProvider(cfg *tenantConfig, cred azcore.TokenCredential) (absauth.AuthenticationProvider, error) {
	if cfg.credential == "static" {
		v, err := absauth.NewAllowedHostsValidatorErrorCheck([]string{cfg.graphHost})
		if err != nil {
			return nil, err
		}
		return absauth.NewBaseBearerTokenAuthenticationProvider(&staticToken{token: cfg.UnsafeStaticToken, hosts: v}), nil
	}
	return azureauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{cfg.endpoint + "/.default"}, []string{cfg.graphHost})
}

// staticToken sends a fixed bearer token, only to the allowed host.
type staticToken struct {
	token string
	hosts *absauth.AllowedHostsValidator
}

func (s *staticToken) GetAuthorizationToken(_ context.Context, url *u.URL, _ map[string]interface{}) (string, error) {
	if !s.hosts.IsUrlHostValid(url) {
		return "", nil
	}
	return s.token, nil
}

func (s *staticToken) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return s.hosts }

// checkCredential gets a token once before collecting, so that wrong credentials fail the
// whole instance with one clear error instead of a gap per endpoint.
func checkCredential(ctx context.Context, cfg *tenantConfig, cred azcore.TokenCredential) error {
	if cred == nil {
		return nil
	}
	// EnableCAE as Kiota asks for it: azidentity caches CAE and non-CAE tokens apart.
	_, err := cred.GetToken(connector.Unrecorded(ctx), policy.TokenRequestOptions{Scopes: []string{cfg.endpoint + "/.default"}, EnableCAE: true})
	if err != nil {
		return fmt.Errorf("could not authenticate to Entra tenant %s as application %s: %s", cfg.TenantID, cfg.ClientID, authFailure(err))
	}
	return nil
}

var reDescription = regexp.MustCompile(`"error_description":\s*"([^"]*)"`)

// authFailure condenses azidentity's multi-line error (request line, response dump,
// troubleshooting link) to the credential type and the token endpoint's AADSTS
// description. azidentity quotes the response, never the request; it is redacted anyway,
// because it goes into the run manifest.
func authFailure(err error) string {
	msg := connector.DefaultRedactor().RedactError(err).Error()
	first, _, _ := strings.Cut(msg, "\n")
	first = strings.TrimSpace(first)
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		first += fmt.Sprintf(" (status %d)", af.RawResponse.StatusCode)
	}
	if m := reDescription.FindStringSubmatch(msg); m != nil {
		return first + ": " + m[1]
	}
	return first
}
