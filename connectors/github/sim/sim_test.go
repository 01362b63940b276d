package sim_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/connectors/github/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func serve(t *testing.T, opts sim.Options) (*sim.Sim, string) {
	t.Helper()
	s := sim.New(opts)
	srv, err := simkit.Serve(s.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return s, srv.URL
}

func client(t *testing.T, url, token string) *gh.Client {
	t.Helper()
	c, err := gh.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(url+"/api/v3/", url+"/api/v3/")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPagination(t *testing.T) {
	s, url := serve(t, sim.Options{Repos: 45, Token: "t"})
	c := client(t, url, "t")
	ctx := context.Background()
	tests := []struct {
		page, perPage, want, next, last int
	}{
		{1, 20, 20, 2, 3},
		{3, 20, 5, 0, 0},
		{0, 0, 30, 2, 2}, // GitHub's default page size
		{1, 500, 45, 0, 0},
	}
	for _, tc := range tests {
		repos, resp, err := c.Repositories.ListByOrg(ctx, "acme", &gh.RepositoryListByOrgOptions{ListOptions: gh.ListOptions{Page: tc.page, PerPage: tc.perPage}})
		if err != nil {
			t.Fatal(err)
		}
		if len(repos) != tc.want || resp.NextPage != tc.next || resp.LastPage != tc.last {
			t.Errorf("page %d per %d: %d repos, next %d, last %d; want %d, %d, %d", tc.page, tc.perPage, len(repos), resp.NextPage, resp.LastPage, tc.want, tc.next, tc.last)
		}
		if !strings.Contains(resp.Header.Get("Link"), "/api/v3/orgs/acme/repos?") && tc.next != 0 {
			t.Errorf("Link %q does not keep the base path", resp.Header.Get("Link"))
		}
	}
	// Cursor pagination (Dependabot): follow after= to the end, every alert once.
	seen := map[string]bool{}
	opts := &gh.ListAlertsOptions{}
	opts.ListCursorOptions.PerPage = 4
	for pages := 0; ; pages++ {
		as, resp, err := c.Dependabot.ListOrgAlerts(ctx, "acme", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			k := fmt.Sprintf("%s#%d", a.GetRepository().GetName(), a.GetNumber())
			if seen[k] {
				t.Fatalf("alert %s twice", k)
			}
			seen[k] = true
		}
		if resp.After == "" {
			break
		}
		if pages > 20 {
			t.Fatal("cursor pagination does not end")
		}
		opts.ListCursorOptions.After = resp.After
	}
	want := 0
	for _, r := range s.Org().Repos {
		want += len(r.DependabotAlerts)
	}
	if len(seen) != want || want < 5 {
		t.Errorf("%d alerts through cursors, want %d", len(seen), want)
	}
}

func TestAuth(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s, url := serve(t, sim.Options{Token: "pat", Now: clk.Now, App: &sim.App{ID: 9, InstallationID: 10, PublicKey: &key.PublicKey}})
	ctx := context.Background()
	if _, _, err := client(t, url, "wrong").Organizations.Get(ctx, "acme"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	if _, _, err := client(t, url, "pat").Organizations.Get(ctx, "acme"); err != nil {
		t.Fatalf("PAT: %v", err)
	}
	jwt := func(iss string, iat time.Time, k *rsa.PrivateKey) string {
		enc := base64.RawURLEncoding
		h := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
		p := enc.EncodeToString([]byte(fmt.Sprintf(`{"iat":%d,"exp":%d,"iss":%q}`, iat.Unix(), iat.Add(9*time.Minute).Unix(), iss)))
		sum := sha256.Sum256([]byte(h + "." + p))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		return h + "." + p + "." + enc.EncodeToString(sig)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, tok := range map[string]string{
		"wrong issuer": jwt("8", clk.Now(), key),
		"wrong key":    jwt("9", clk.Now(), other),
		"expired":      jwt("9", clk.Now().Add(-20*time.Minute), key),
	} {
		if _, _, err := client(t, url, tok).Apps.CreateInstallationToken(ctx, 10, nil); err == nil {
			t.Errorf("%s: token minted", name)
		}
	}
	it, _, err := client(t, url, jwt("9", clk.Now(), key)).Apps.CreateInstallationToken(ctx, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !it.GetExpiresAt().Time.Equal(clk.Now().Add(time.Hour)) || s.TokensMinted() != 1 {
		t.Errorf("token expires %v, minted %d", it.GetExpiresAt(), s.TokensMinted())
	}
	if _, _, err := client(t, url, it.GetToken()).Organizations.Get(ctx, "acme"); err != nil {
		t.Fatalf("installation token: %v", err)
	}
	clk.Add(time.Hour)
	if _, _, err := client(t, url, it.GetToken()).Organizations.Get(ctx, "acme"); err == nil {
		t.Error("expired installation token accepted")
	}
}

func TestRateLimitAndSecrets(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s, url := serve(t, sim.Options{Repos: 12, Token: "t", Now: clk.Now, RateLimit: 3})
	c := client(t, url, "t")
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, _, err := c.Organizations.Get(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	// go-github remembers remaining 0 and the reset; a fresh client sends the request.
	_, resp, err := client(t, url, "t").Organizations.Get(ctx, "acme")
	if _, ok := err.(*gh.RateLimitError); !ok || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("4th request: %v", err)
	}
	clk.Add(time.Hour)
	if _, _, err := client(t, url, "t").Organizations.Get(ctx, "acme"); err != nil {
		t.Fatalf("after the reset: %v", err)
	}
	var canary string
	for _, r := range s.Org().Repos {
		for _, a := range r.SecretAlerts {
			canary = a.Secret
		}
	}
	req, _ := http.NewRequest("GET", url+"/api/v3/orgs/acme/secret-scanning/alerts?hide_secret=true", nil)
	req.Header.Set("Authorization", "Bearer t")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if canary == "" || !strings.Contains(string(body), `"secret_type"`) || strings.Contains(string(body), canary) {
		t.Errorf("hide_secret=true still returns the secret (canary %q)", canary)
	}
}

func TestDemoSettings(t *testing.T) {
	got := sim.DemoSettings("http://127.0.0.1:1234/")
	for _, want := range []string{"orgs: [acme]", "base_url: http://127.0.0.1:1234/api/v3/", "token_env: " + sim.DemoTokenEnv} {
		if !strings.Contains(got, want) {
			t.Errorf("DemoSettings = %q, want %q in it", got, want)
		}
	}
}
