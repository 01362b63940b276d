package github

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// tokenSource gives the bearer token for API requests.
type tokenSource interface {
	// Token returns a valid token, minting or refreshing it if needed.
	Token(ctx context.Context) (string, error)
	// Invalidate forgets a token the API rejected, so the next Token mints a new one.
	// It reports whether a retry with a new token can help.
	Invalidate(token string) bool
}

// staticToken is a personal access token.
type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }
func (staticToken) Invalidate(string) bool                  { return false }

// Installation tokens live one hour; refresh this long before they expire, so a token
// never runs out during a request or a rate-limit wait.
const (
	tokenRefreshMargin = 5 * time.Minute
	jwtLifetime        = 9 * time.Minute // GitHub accepts at most 10 minutes
	jwtBackdate        = time.Minute     // tolerate clock drift, as GitHub recommends
)

// appTokens mints and caches GitHub App installation tokens. Minting goes through the
// authentication client (not captured: the response holds the token) and go-github's
// Apps.CreateInstallationToken, authenticated with a JWT signed here (RS256).
type appTokens struct {
	appID, installationID int64
	key                   *rsa.PrivateKey
	client                *http.Client
	baseURL, uploadURL    string
	now                   func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

func (a *appTokens) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.now().Before(a.expires.Add(-tokenRefreshMargin)) {
		return a.token, nil
	}
	jwt, err := signAppJWT(a.key, a.appID, a.now())
	if err != nil {
		return "", err
	}
	cl, err := gh.NewClient(a.client).WithAuthToken(jwt).WithEnterpriseURLs(a.baseURL, a.uploadURL)
	if err != nil {
		return "", fmt.Errorf("could not configure the GitHub App client: %w", err)
	}
	// The mint is not evidence: detach it from the artefact's recorder (and its body holds
	// the token), but keep the cancellation.
	mctx, cancel := detach(ctx)
	defer cancel()
	tok, _, err := cl.Apps.CreateInstallationToken(mctx, a.installationID, nil)
	if err != nil {
		return "", connector.AsGap(statusOf(err), fmt.Errorf("could not create an installation token for GitHub App %d, installation %d: %w", a.appID, a.installationID, err))
	}
	if tok.GetToken() == "" {
		return "", fmt.Errorf("GitHub App %d, installation %d: the token response holds no token", a.appID, a.installationID)
	}
	a.token = tok.GetToken()
	a.expires = tok.GetExpiresAt().Time
	if a.expires.IsZero() {
		a.expires = a.now().Add(time.Hour)
	}
	return a.token, nil
}

func (a *appTokens) Invalidate(token string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
	return true
}

// signAppJWT returns the JWT a GitHub App authenticates with: RS256 over
// {"iat","exp","iss"}.
func signAppJWT(key *rsa.PrivateKey, appID int64, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(struct {
		IAT int64  `json:"iat"`
		EXP int64  `json:"exp"`
		ISS string `json:"iss"`
	}{now.Add(-jwtBackdate).Unix(), now.Add(jwtLifetime).Unix(), strconv.FormatInt(appID, 10)})
	if err != nil {
		return "", err
	}
	signing := header + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("could not sign the GitHub App JWT: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// parsePrivateKey reads a GitHub App private key: PKCS#1 ("RSA PRIVATE KEY", what GitHub
// hands out) or PKCS#8. Errors never contain key material.
func parsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("app private key: not PEM encoded (expected the .pem file GitHub generated)")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("app private key: invalid PKCS#1 RSA key")
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("app private key: invalid PKCS#8 key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("app private key: GitHub Apps use RSA keys, got %T", k)
		}
		return rk, nil
	default:
		return nil, fmt.Errorf("app private key: unexpected PEM block %q", block.Type)
	}
}

// authTransport sets the bearer token on requests to the API host, and mints a new App
// token once when the API rejects one (revoked, or clocks drifted).
type authTransport struct {
	next   http.RoundTripper
	tokens tokenSource
	host   string
}

var _ http.RoundTripper = (*authTransport)(nil)

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		// Never send the token elsewhere (redirects to other hosts).
		return t.next.RoundTrip(req)
	}
	for attempt := 1; ; attempt++ {
		tok, err := t.tokens.Token(req.Context())
		if err != nil {
			return nil, err
		}
		r, ok := rewind(req)
		if !ok {
			return nil, fmt.Errorf("could not send %s %s: the request body cannot be replayed", req.Method, req.URL.Path)
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		resp, err := t.next.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusUnauthorized || attempt > 1 || !t.tokens.Invalidate(tok) {
			return resp, err
		}
		drain(resp)
	}
}

// detach returns a context without ctx's values (the evidence recorder) that is cancelled
// when ctx is.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	return d, func() { stop(); cancel() }
}

// authHTTPClient returns the client for authentication flows (not captured: the token
// response is a credential, not evidence); a plain client when the runner gives none.
func authHTTPClient(opts connector.Options) *http.Client {
	if opts.AuthHTTPClient != nil {
		return opts.AuthHTTPClient
	}
	return &http.Client{}
}
