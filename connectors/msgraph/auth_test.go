package msgraph

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// selfSignedPEM returns a certificate and its private key, PEM encoded, as an app
// registration's certificate credential would be stored.
func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "exhibit-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// TestAzidentityCredentials runs azidentity for real against the simulator's token
// endpoint (over TLS: azidentity refuses an authority without https) with each credential
// kind, through Options.AuthHTTPClient, and checks that no token reaches the store.
func TestAzidentityCredentials(t *testing.T) {
	const secret = "sim-client-secret-value"
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(tokenFile, []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZXhoaWJpdCJ9.c2ln\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		settings string
		env      map[string]string
		wantErr  string
	}{
		{"client secret", "client_secret_env: GRAPH_SECRET\n", map[string]string{"GRAPH_SECRET": secret}, ""},
		{"wrong client secret", "client_secret_env: GRAPH_SECRET\n", map[string]string{"GRAPH_SECRET": "wrong"}, "could not authenticate to Entra tenant"},
		{"missing client secret", "client_secret_env: GRAPH_SECRET\n", nil, "environment variable GRAPH_SECRET is not set"},
		{"client certificate", "certificate_env: GRAPH_CERT\n", map[string]string{"GRAPH_CERT": selfSignedPEM(t)}, ""},
		{"workload identity federation", "federated_token_file: " + tokenFile + "\n", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sim.New(sim.Options{ClientSecret: secret, Now: func() time.Time { return testNow }})
			srv := httptest.NewTLSServer(s.Handler())
			defer srv.Close()
			st := mem.New()
			h := &harness{sim: s, store: st, clock: &fakeClock{now: testNow}, env: tt.env}
			settings := "tenant_id: " + sim.DemoTenantID + "\nclient_id: 0e5b1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4\n" +
				"authority_host: " + srv.URL + "/\ngraph_endpoint: " + srv.URL + "\n" + tt.settings
			opts := h.options()
			opts.HTTPClient = &http.Client{Transport: connector.NewTransport(srv.Client().Transport, connector.TransportOptions{Sink: st})}
			opts.AuthHTTPClient = srv.Client()
			h.conn = h.newConnectorWith(t, settings, opts)
			arts, err := h.collect(t, context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Collect: %v, want an error containing %q", err, tt.wantErr)
				}
				if len(arts) != 0 {
					t.Errorf("%d artefacts emitted with failing credentials", len(arts))
				}
				t.Logf("error: %v", err)
				if strings.Contains(err.Error(), "wrong") {
					t.Errorf("the error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a := arts[KindAuthorizationPolicy]; status(a) != evidence.StatusOK {
				t.Fatalf("authorization policy: %s %s", status(a), a.Error)
			}
			if n := s.TokenRequests(); n != 1 {
				t.Errorf("%d token requests, want 1 (azidentity caches the token)", n)
			}
			st.List(context.Background(), func(info store.Info) error {
				rc, _ := st.Get(context.Background(), info.Digest)
				b, _ := io.ReadAll(rc)
				rc.Close()
				if bytes.Contains(b, []byte("access_token")) || bytes.Contains(b, []byte(secret)) {
					t.Errorf("stored object %s holds a token response or the secret", info.Digest)
				}
				return nil
			})
		})
	}
}
