package msgraph

import (
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/config"
)

func TestSettings(t *testing.T) {
	const base = "tenant_id: 4a1f6d7e-2c3b-4e5f-9a8b-7c6d5e4f3a21\nclient_id: 0e5b1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4\n"
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c *tenantConfig)
	}{
		{"secret, public cloud", base + "client_secret_env: S\n", "", func(t *testing.T, c *tenantConfig) {
			if c.authority != "https://login.microsoftonline.com/" || c.endpoint != "https://graph.microsoft.com" || c.credential != "secret" {
				t.Errorf("%s %s %s", c.authority, c.endpoint, c.credential)
			}
			if c.limits[classReports].Interval().Seconds() != 2 || c.limits[classConditionalAccess].Interval().Seconds() != 1 {
				t.Errorf("default limits %v", c.limits)
			}
		}},
		{"national cloud", base + "client_secret_file: /s\ncloud: usgov\n", "", func(t *testing.T, c *tenantConfig) {
			if c.authority != "https://login.microsoftonline.us/" || c.endpoint != "https://graph.microsoft.us" {
				t.Errorf("%s %s", c.authority, c.endpoint)
			}
		}},
		{"china with explicit endpoints", base + "certificate_file: /c.pem\ncloud: china\ngraph_endpoint: https://microsoftgraph.chinacloudapi.cn/\n", "", func(t *testing.T, c *tenantConfig) {
			if c.authority != "https://login.chinacloudapi.cn/" || c.endpoint != "https://microsoftgraph.chinacloudapi.cn" || c.credential != "certificate" {
				t.Errorf("%s %s %s", c.authority, c.endpoint, c.credential)
			}
		}},
		{"federated", base + "federated_token_file: /var/run/secrets/azure/tokens/azure-identity-token\n", "", func(t *testing.T, c *tenantConfig) {
			if c.credential != "federated" {
				t.Errorf("credential %s", c.credential)
			}
		}},
		{"rate limit override", base + "client_secret_env: S\nrate_limits: {reports: 3/10s}\n", "", func(t *testing.T, c *tenantConfig) {
			if c.limits[classReports] != (rateLimit{N: 3, Per: 10e9}) {
				t.Errorf("reports limit %v", c.limits[classReports])
			}
		}},
		{"pseudonymise defaults", base + "client_secret_env: S\npseudonymise: {key_env: K}\n", "", func(t *testing.T, c *tenantConfig) {
			if strings.Join(c.pseudFields, ",") != "userPrincipalName,mail,displayName" {
				t.Errorf("fields %v", c.pseudFields)
			}
		}},
		{"no tenant", "client_id: x\nclient_secret_env: S\n", "tenant_id", nil},
		{"bad tenant", "tenant_id: 'not a tenant'\nclient_id: x\nclient_secret_env: S\n", "want the directory (tenant) id", nil},
		{"no credential", base, "no credential", nil},
		{"two credentials", base + "client_secret_env: S\ncertificate_file: /c\n", "set only one credential", nil},
		{"no client id", "tenant_id: contoso.onmicrosoft.com\nclient_secret_env: S\n", "client_id", nil},
		{"unknown cloud", base + "client_secret_env: S\ncloud: moon\n", "unknown cloud", nil},
		{"http authority", base + "client_secret_env: S\nauthority_host: http://login.example/\n", "authority_host", nil},
		{"http graph endpoint not loopback", base + "client_secret_env: S\ngraph_endpoint: http://graph.example\n", "graph_endpoint", nil},
		{"static token needs loopback", base + "unsafe_static_token: t\ngraph_endpoint: https://graph.microsoft.com\n", "only allowed with a loopback", nil},
		{"password without certificate", base + "client_secret_env: S\ncertificate_password_env: P\n", "certificate password without", nil},
		{"unknown rate class", base + "client_secret_env: S\nrate_limits: {mail: 1/1s}\n", "unknown endpoint class", nil},
		{"bad rate", base + "client_secret_env: S\nrate_limits: {reports: fast}\n", "want N/duration", nil},
		{"pseudonymise without key", base + "client_secret_env: S\npseudonymise: {fields: [mail]}\n", "key_env or key_file", nil},
		{"pseudonymise unknown field", base + "client_secret_env: S\npseudonymise: {fields: [shoeSize], key_env: K}\n", "unknown field", nil},
		{"unknown key", base + "client_secret_env: S\nclient_secret: inline\n", "client_secret", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := config.NewSettings("connectors.yaml", tt.yaml)
			if err != nil {
				t.Fatal(err)
			}
			c, err := parseSettings(st)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "connectors.yaml") {
					t.Errorf("error %v does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
