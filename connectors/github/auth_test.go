package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/github/sim"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

const testAppID, testInstallation = 424242, 77

func (e *testEnv) appSettings(extra ...string) string {
	y := strings.Replace(e.settings(extra...), "token_env: GH_TOKEN\n",
		"app: {app_id: 424242, installation_id: 77, private_key_env: GH_APP_KEY}\n", 1)
	return y
}

func startAppSim(t *testing.T, pub *rsa.PublicKey, opts sim.Options) *testEnv {
	opts.App = &sim.App{ID: testAppID, InstallationID: testInstallation, PublicKey: pub}
	return startSim(t, opts)
}

// TestAppAuth collects as a GitHub App installation: one token for the whole run.
func TestAppAuth(t *testing.T) {
	e := startAppSim(t, &testAppKey(t).PublicKey, sim.Options{})
	_, list := collect(t, e.connector(t, e.appSettings(), connector.Limits{}))
	if g := gaps(list); len(g) > 0 {
		t.Fatalf("gaps with App authentication:\n%s", strings.Join(g, "\n"))
	}
	if n := e.sim.TokensMinted(); n != 1 {
		t.Errorf("%d installation tokens minted for one run, want 1", n)
	}
	// The token exchange is authentication, not evidence: it must not reach the store.
	for _, a := range list {
		for _, x := range a.Exchanges {
			if strings.Contains(x.URL, "access_tokens") {
				t.Errorf("%s %s records the token exchange", a.Kind, a.Subject)
			}
		}
	}
}

// TestAppTokenRefresh: the installation token is reused while valid, refreshed before it
// expires, and minted again once when GitHub rejects it.
func TestAppTokenRefresh(t *testing.T) {
	e := startAppSim(t, &testAppKey(t).PublicKey, sim.Options{})
	c := e.connector(t, e.appSettings(), connector.Limits{}).(*Connector)
	col, err := c.newCollector()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(step string) {
		t.Helper()
		if _, _, err := col.gh.Organizations.Get(ctx, "acme"); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	steps := []struct {
		name       string
		before     func()
		wantMinted int
	}{
		{"first request mints", nil, 1},
		{"valid token is reused", func() { e.clock.Advance(30 * time.Minute) }, 1},
		{"refreshed five minutes before expiry", func() { e.clock.Advance(26 * time.Minute) }, 2},
		{"rejected token is minted again", e.sim.RevokeTokens, 3},
		{"and reused", nil, 3},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		get(s.name)
		if n := e.sim.TokensMinted(); n != s.wantMinted {
			t.Errorf("%s: %d tokens minted, want %d", s.name, n, s.wantMinted)
		}
	}
}

// TestAppAuthFailures: a key GitHub does not know, or no key at all, stops the collection
// with an error that never contains the key.
func TestAppAuthFailures(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pub     *rsa.PublicKey
		secrets envSecrets
		want    string
	}{
		{"unknown key", &other.PublicKey, nil, "could not authenticate"},
		{"not PEM", &testAppKey(t).PublicKey, envSecrets{"GH_APP_KEY": "-----not a key-----"}, "not PEM encoded"},
		{"missing", &testAppKey(t).PublicKey, envSecrets{}, "GH_APP_KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startAppSim(t, tc.pub, sim.Options{})
			c := e.connector(t, e.appSettings(), connector.Limits{}).(*Connector)
			if tc.secrets != nil {
				c.opts.Secrets = tc.secrets
			}
			err := c.Collect(context.Background(), func(evidence.Artefact) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Collect = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), testAppKeyPEM(t)[40:80]) {
				t.Fatal("the error contains key material")
			}
		})
	}
}

// TestAppJWT: the JWT is RS256 over iat (backdated a minute), exp (within GitHub's ten
// minutes) and iss (the App id).
func TestAppJWT(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, err := signAppJWT(testAppKey(t), testAppID, now)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	var claims struct {
		IAT, EXP int64
		ISS      string
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.ISS != "424242" || claims.IAT != now.Unix()-60 || claims.EXP-claims.IAT > 600 || claims.EXP <= now.Unix() {
		t.Errorf("claims %+v", claims)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(testAppKey(t))
	for name, block := range map[string]*pem.Block{
		"PKCS#1": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testAppKey(t))},
		"PKCS#8": {Type: "PRIVATE KEY", Bytes: pkcs8},
	} {
		if _, err := parsePrivateKey(pem.EncodeToMemory(block)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
