package aws

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// The credential paths a real deployment uses, each against local stand-ins on 127.0.0.1:
// the SDK's chain (environment keys, shared config and profile, web identity through an
// STS stand-in, IMDSv2 through a metadata stand-in), CA bundles (AWS_CA_BUNDLE, a profile's
// ca_bundle, the settings' ca_bundle_file) with a TLS simulator signed by a test CA,
// AssumeRole with an external id, and HTTPS_PROXY through a local CONNECT proxy.

// chainEnv clears every variable the SDK's chain reads and points its files at empty ones,
// so a test sees only what it sets (and never the machine's own credentials or IMDS).
func chainEnv(t *testing.T) string {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "HTTPS_PROXY", "https_proxy"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, "")
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	return dir
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testCA is a CA and a server certificate it signed for 127.0.0.1 and aws.sim.test.
type testCA struct {
	pemFile string
	cert    tls.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Exhibit test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "aws.sim.test"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), DNSNames: []string{"aws.sim.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, file, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	return &testCA{pemFile: file, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// standIns wraps the simulator with the STS web identity exchange and counts the calls.
type standIns struct {
	sim          *sim.Sim
	url          string // where the simulator and STS stand-in listen
	mu           sync.Mutex
	webIdentity  []string // tokens presented
	imdsRequests []string
}

func (s *standIns) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.Header.Get("Authorization") == "" {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		if form.Get("Action") == "AssumeRoleWithWebIdentity" {
			s.mu.Lock()
			s.webIdentity = append(s.webIdentity, form.Get("WebIdentityToken"))
			s.mu.Unlock()
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>`+
				`<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>stand-in</SecretAccessKey><SessionToken>stand-in-token</SessionToken>`+
				`<Expiration>%s</Expiration></Credentials><AssumedRoleUser><Arn>%s/exhibit</Arn><AssumedRoleId>AROAEXAMPLE:exhibit</AssumedRoleId></AssumedRoleUser>`+
				`</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
				sim.AccessKeyID, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), form.Get("RoleArn"))
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
	}
	s.sim.Handler().ServeHTTP(w, r)
}

// imds is an IMDSv2 stand-in: a session token first, then the role's credentials.
func (s *standIns) imds() http.Handler {
	const token = "imds-session-token"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.imdsRequests = append(s.imdsRequests, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
			io.WriteString(w, token)
			return
		}
		if r.Header.Get("X-Aws-Ec2-Metadata-Token") != token {
			http.Error(w, "IMDSv2 token required", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "exhibit-instance-role")
		case "/latest/meta-data/iam/security-credentials/exhibit-instance-role":
			fmt.Fprintf(w, `{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":%q,"SecretAccessKey":"stand-in","Token":"stand-in-token","Expiration":%q,"LastUpdated":%q}`,
				sim.AccessKeyID, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
		default:
			http.NotFound(w, r)
		}
	})
}

// connectProxy is a CONNECT proxy that resolves aws.sim.test to 127.0.0.1.
type connectProxy struct {
	mu      sync.Mutex
	tunnels []string
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.tunnels = append(p.tunnels, r.Host)
	p.mu.Unlock()
	_, port, _ := net.SplitHostPort(r.Host)
	up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		up.Close()
		return
	}
	io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { io.Copy(up, buf); up.Close() }()
	go func() { io.Copy(conn, bufio.NewReader(up)); conn.Close() }()
}

// credentialCase is one credential path.
type credentialCase struct {
	name     string
	tls      bool   // serve the simulator over TLS with the test CA
	proxy    bool   // reach it as aws.sim.test through HTTPS_PROXY
	settings string // the credentials (and targets) of the settings
	simOpts  sim.Options
	// env sets the chain's environment; files are written to dir. It returns a check run
	// after the collection.
	env func(t *testing.T, dir string, ca *testCA, s *standIns, imdsURL string) func(t *testing.T)
}

func TestCredentialPaths(t *testing.T) {
	keysEnv := func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", sim.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", sim.SecretAccessKey)
	}
	cases := []credentialCase{
		{name: "environment keys through the default chain", settings: "credentials: {default_chain: true}",
			env: func(t *testing.T, dir string, _ *testCA, _ *standIns, _ string) func(*testing.T) {
				keysEnv(t)
				return nil
			}},
		{name: "shared config and credentials files with a profile", settings: "credentials: {profile: audit}",
			env: func(t *testing.T, dir string, _ *testCA, _ *standIns, _ string) func(*testing.T) {
				t.Setenv("AWS_CONFIG_FILE", writeFile(t, filepath.Join(dir, "config"), "[profile audit]\nregion = eu-central-1\n"))
				t.Setenv("AWS_SHARED_CREDENTIALS_FILE", writeFile(t, filepath.Join(dir, "credentials"),
					"[audit]\naws_access_key_id = "+sim.AccessKeyID+"\naws_secret_access_key = "+sim.SecretAccessKey+"\n"))
				return nil
			}},
		{name: "web identity token file (IRSA) with an STS stand-in", settings: "credentials: {default_chain: true}",
			env: func(t *testing.T, dir string, _ *testCA, s *standIns, _ string) func(*testing.T) {
				t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", writeFile(t, filepath.Join(dir, "token"), "eyJ.service-account-token"))
				t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::100000000000:role/exhibit-irsa")
				t.Setenv("AWS_ENDPOINT_URL_STS", s.url)
				return func(t *testing.T) {
					if len(s.webIdentity) == 0 || s.webIdentity[0] != "eyJ.service-account-token" {
						t.Errorf("the web identity token was not exchanged: %v", s.webIdentity)
					}
				}
			}},
		{name: "IMDSv2 through AWS_EC2_METADATA_SERVICE_ENDPOINT", settings: "credentials: {default_chain: true}",
			env: func(t *testing.T, dir string, _ *testCA, s *standIns, imdsURL string) func(*testing.T) {
				t.Setenv("AWS_EC2_METADATA_DISABLED", "")
				t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imdsURL)
				return func(t *testing.T) {
					if len(s.imdsRequests) == 0 || s.imdsRequests[0] != "PUT /latest/api/token" {
						t.Errorf("IMDS was not asked with a session token first: %v", s.imdsRequests)
					}
				}
			}},
		{name: "AWS_CA_BUNDLE reaches the evidence client", tls: true, settings: "credentials: {default_chain: true}",
			env: func(t *testing.T, dir string, ca *testCA, _ *standIns, _ string) func(*testing.T) {
				keysEnv(t)
				t.Setenv("AWS_CA_BUNDLE", ca.pemFile)
				return nil
			}},
		{name: "a profile's ca_bundle", tls: true, settings: "credentials: {profile: audit}",
			env: func(t *testing.T, dir string, ca *testCA, _ *standIns, _ string) func(*testing.T) {
				t.Setenv("AWS_CONFIG_FILE", writeFile(t, filepath.Join(dir, "config"), "[profile audit]\nca_bundle = "+ca.pemFile+"\n"))
				t.Setenv("AWS_SHARED_CREDENTIALS_FILE", writeFile(t, filepath.Join(dir, "credentials"),
					"[audit]\naws_access_key_id = "+sim.AccessKeyID+"\naws_secret_access_key = "+sim.SecretAccessKey+"\n"))
				return nil
			}},
		{name: "ca_bundle_file with static keys and AssumeRole with an external id", tls: true,
			simOpts: sim.Options{Accounts: 2, ExternalID: "exhibit-ext-7"},
			settings: "credentials: {access_key_id_env: " + sim.EnvAccessKeyID + ", secret_access_key_env: " + sim.EnvSecretAccessKey + ", ca_bundle_file: CA}\n" +
				"organizations: {role_name: ExhibitReadOnly, external_id: exhibit-ext-7}",
			env: func(t *testing.T, dir string, ca *testCA, _ *standIns, _ string) func(*testing.T) { return nil }},
		{name: "HTTPS_PROXY with AWS_CA_BUNDLE", tls: true, proxy: true, settings: "credentials: {default_chain: true}",
			env: func(t *testing.T, dir string, ca *testCA, _ *standIns, _ string) func(*testing.T) {
				keysEnv(t)
				t.Setenv("AWS_CA_BUNDLE", ca.pemFile)
				return nil
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := chainEnv(t)
			ca := newTestCA(t)
			opts := tc.simOpts
			if opts.Accounts == 0 {
				opts.Accounts = 1
			}
			opts.Regions, opts.Now, opts.Defects = []string{"eu-central-1"}, testNow, map[int][]string{}
			s := &standIns{sim: sim.New(opts)}
			srv := httptest.NewUnstartedServer(s)
			if tc.tls {
				srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.cert}}
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			imds := httptest.NewServer(s.imds())
			defer imds.Close()
			endpoint := srv.URL
			tr := testTransport()
			defer tr.CloseIdleConnections()
			var proxy *connectProxy
			if tc.proxy {
				proxy = &connectProxy{}
				ps := httptest.NewServer(proxy)
				defer ps.Close()
				t.Setenv("HTTPS_PROXY", ps.URL)
				// net/http reads the proxy variables once per process; read them per request.
				tr.Proxy = func(r *http.Request) (*url.URL, error) {
					if p := os.Getenv("HTTPS_PROXY"); p != "" && r.URL.Scheme == "https" {
						return url.Parse(p)
					}
					return nil, nil
				}
				endpoint = strings.Replace(srv.URL, "127.0.0.1", "aws.sim.test", 1)
			}
			s.url = endpoint
			check := tc.env(t, dir, ca, s, imds.URL)
			// The runner's clients: a capturing evidence client and an auth client over the
			// same base transport.
			e := &simEnv{sim: s.sim, url: endpoint, store: nil, tr: tr}
			settings := strings.ReplaceAll(tc.settings, "ca_bundle_file: CA", "ca_bundle_file: "+ca.pemFile)
			c := e.connector(t, settings+"\nendpoint_url: "+endpoint+"\nregions: [eu-central-1]\nexclude_kinds: ["+strings.Join(allKindsBut("aws.iam.password_policy"), ", ")+"]",
				func(o *connector.Options) {
					o.HTTPClient = &http.Client{Transport: connector.NewTransport(tr, connector.TransportOptions{Sink: newMemSink()})}
					o.AuthHTTPClient = &http.Client{Transport: tr}
				})
			res := collect(context.Background(), c)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if g := res.gaps(); len(g) > 0 {
				t.Fatalf("gaps: %v", g)
			}
			for _, id := range s.sim.AccountIDs() {
				if a := res.find("aws.iam.password_policy", "aws:"+id); a == nil || len(a.Exchanges) == 0 {
					t.Errorf("account %s: no recorded password policy", id)
				}
			}
			if check != nil {
				check(t)
			}
			if proxy != nil && (len(proxy.tunnels) == 0 || !strings.HasPrefix(proxy.tunnels[0], "aws.sim.test:")) {
				t.Errorf("nothing went through the proxy: %v", proxy.tunnels)
			}
		})
	}
}

// TestCredentialsMustBeChosen: without a choice in the config the connector refuses to
// start rather than fall back to whatever the environment holds.
func TestCredentialsMustBeChosen(t *testing.T) {
	st, err := newSettingsForTest("regions: [eu-central-1]")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newConnector(st, connector.Options{}); err == nil || !strings.Contains(err.Error(), "default_chain: true") {
		t.Fatalf("want an error asking for a choice of credentials, got %v", err)
	}
}

func allKindsBut(keep string) []string {
	var out []string
	for _, k := range kinds {
		if k.Name != keep {
			out = append(out, k.Name)
		}
	}
	return out
}

func newMemSink() *mem.Store { return mem.New() }
