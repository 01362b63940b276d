package msgraph

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// Settings are the msgraph connector's settings section:
//
//	tenant_id: 4a1f6d7e-2c3b-4e5f-9a8b-7c6d5e4f3a21
//	client_id: 0e5b1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4
//	client_secret_env: EXHIBIT_GRAPH_SECRET   # or client_secret_file, certificate_file/_env
//	                                          # (+ certificate_password_env/_file), federated_token_file
//	cloud: public                             # usgov, usgov-dod, china; or authority_host + graph_endpoint
//	break_glass_accounts: [bg-admin-01@contoso.com, bg-admin-02@contoso.com]
//	pseudonymise: {fields: [userPrincipalName, mail, displayName], key_env: EXHIBIT_PSEUDONYM_KEY}
//	rate_limits: {reports: 5/10s}             # per endpoint class, see DefaultRateLimits
type Settings struct {
	TenantID string `yaml:"tenant_id"`
	ClientID string `yaml:"client_id"`

	ClientSecretEnv         string `yaml:"client_secret_env"`
	ClientSecretFile        string `yaml:"client_secret_file"`
	CertificateFile         string `yaml:"certificate_file"`
	CertificateEnv          string `yaml:"certificate_env"`
	CertificatePasswordEnv  string `yaml:"certificate_password_env"`
	CertificatePasswordFile string `yaml:"certificate_password_file"`
	// FederatedTokenFile is a workload identity federation token (e.g. a Kubernetes
	// projected service account token); it is re-read for every token request, because the
	// platform rotates it.
	FederatedTokenFile string `yaml:"federated_token_file"`

	// Cloud selects a national cloud's authority and Graph endpoint; AuthorityHost and
	// GraphEndpoint override them (sovereign or private clouds, simulators).
	Cloud         string `yaml:"cloud"`
	AuthorityHost string `yaml:"authority_host"`
	GraphEndpoint string `yaml:"graph_endpoint"`

	// UnsafeStaticToken is sent as the bearer token instead of authenticating. It is only
	// accepted for a loopback graph_endpoint: it exists for `exhibit demo` and simulators.
	UnsafeStaticToken string `yaml:"unsafe_static_token"`

	// BreakGlassAccounts are the emergency-access accounts (UPNs or object ids). Without
	// them, the accounts excluded from every enabled conditional access policy are taken.
	BreakGlassAccounts []string `yaml:"break_glass_accounts"`

	Pseudonymise *PseudonymiseSettings `yaml:"pseudonymise"`

	// RateLimits override DefaultRateLimits per endpoint class, as "N/duration".
	RateLimits map[string]string `yaml:"rate_limits"`

	// MalwareMaxDevices bounds the Windows devices whose protection state is read (0: all).
	MalwareMaxDevices int `yaml:"malware_max_devices"`
}

// PseudonymiseSettings configure keyed pseudonyms for personal data.
type PseudonymiseSettings struct {
	// Fields are the personal fields to replace: userPrincipalName, mail, displayName,
	// givenName, surname, deviceName (see pseudonymFields for the Graph properties each covers).
	Fields  []string `yaml:"fields"`
	KeyEnv  string   `yaml:"key_env"`
	KeyFile string   `yaml:"key_file"`
}

// clouds are the national clouds: Entra authority host and Microsoft Graph endpoint.
var clouds = map[string][2]string{
	"public":    {"https://login.microsoftonline.com/", "https://graph.microsoft.com"},
	"usgov":     {"https://login.microsoftonline.us/", "https://graph.microsoft.us"},
	"usgov-dod": {"https://login.microsoftonline.us/", "https://dod-graph.microsoft.us"},
	"china":     {"https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn"},
}

// Endpoint classes with their own Graph throttling limits.
const (
	classConditionalAccess = "conditional_access" // identity protection and conditional access: 1 request/s per tenant
	classReports           = "reports"            // identity and access reports, audit logs: 5 requests per 10 s per app and tenant
	classIntune            = "intune"             // Intune devices: 2000 requests per 20 s per app and tenant
	classDirectory         = "directory"          // everything else (identity and access: resource units per 10 s)
)

// DefaultRateLimits are Microsoft Graph's documented limits for the endpoint classes the
// connector uses (learn.microsoft.com/graph/throttling-limits). Directory reads are limited
// in resource units (3,500 to 8,000 per 10 s by tenant size, 1 to 3 per request); 1000
// requests per 10 s stays below that for every tenant size.
var DefaultRateLimits = map[string]string{
	classConditionalAccess: "1/1s",
	classReports:           "5/10s",
	classIntune:            "2000/20s",
	classDirectory:         "1000/10s",
}

// rateLimit is N requests per Per.
type rateLimit struct {
	N   int
	Per time.Duration
}

// Interval is the spacing between requests that keeps to the limit.
func (l rateLimit) Interval() time.Duration { return l.Per / time.Duration(l.N) }

var reRate = regexp.MustCompile(`^\s*(\d+)\s*/\s*(\S+)\s*$`)

func parseRate(s string) (rateLimit, error) {
	m := reRate.FindStringSubmatch(s)
	if m == nil {
		return rateLimit{}, fmt.Errorf("want N/duration such as 5/10s, got %q", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 {
		return rateLimit{}, fmt.Errorf("want at least 1 request, got %q", s)
	}
	d, err := time.ParseDuration(m[2])
	if err != nil || d <= 0 {
		return rateLimit{}, fmt.Errorf("invalid duration in %q", s)
	}
	return rateLimit{N: n, Per: d}, nil
}

var reTenant = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})$`)

// tenantConfig is the validated form of Settings.
type tenantConfig struct {
	Settings
	authority   string // with trailing slash
	endpoint    string // without trailing slash
	graphHost   string
	limits      map[string]rateLimit
	credential  string // secret, certificate, federated, static
	pseudFields []string
}

func parseSettings(s connector.Settings) (*tenantConfig, error) {
	var st Settings
	if err := s.Decode(&st); err != nil {
		return nil, err
	}
	c := &tenantConfig{Settings: st}
	if !reTenant.MatchString(st.TenantID) {
		return nil, s.Errorf("tenant_id", "want the directory (tenant) id, a GUID or a verified domain, got %q", st.TenantID)
	}
	cloud := st.Cloud
	if cloud == "" {
		cloud = "public"
	}
	hosts, ok := clouds[cloud]
	if !ok {
		return nil, s.Errorf("cloud", "unknown cloud %q (want public, usgov, usgov-dod or china, or set authority_host and graph_endpoint)", cloud)
	}
	c.authority, c.endpoint = hosts[0], hosts[1]
	if st.AuthorityHost != "" {
		u, err := url.Parse(st.AuthorityHost)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, s.Errorf("authority_host", "want an https URL such as https://login.microsoftonline.us/, got %q", st.AuthorityHost)
		}
		c.authority = strings.TrimRight(st.AuthorityHost, "/") + "/"
	}
	if st.GraphEndpoint != "" {
		c.endpoint = strings.TrimRight(st.GraphEndpoint, "/")
	}
	u, err := url.Parse(c.endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return nil, s.Errorf("graph_endpoint", "want an https URL such as https://graph.microsoft.com (http only for a loopback simulator), got %q", c.endpoint)
	}
	c.graphHost = u.Hostname()

	var methods []string
	if st.ClientSecretEnv != "" || st.ClientSecretFile != "" {
		methods, c.credential = append(methods, "client_secret_env/_file"), "secret"
	}
	if st.CertificateFile != "" || st.CertificateEnv != "" {
		methods, c.credential = append(methods, "certificate_file/_env"), "certificate"
	}
	if st.FederatedTokenFile != "" {
		methods, c.credential = append(methods, "federated_token_file"), "federated"
	}
	if st.UnsafeStaticToken != "" {
		methods, c.credential = append(methods, "unsafe_static_token"), "static"
		if !isLoopback(c.graphHost) {
			return nil, s.Errorf("unsafe_static_token", "a static token is only allowed with a loopback graph_endpoint (a simulator), not %s", c.graphHost)
		}
	}
	switch {
	case len(methods) == 0:
		return nil, s.Errorf("client_secret_env", "no credential: set one of client_secret_env/_file, certificate_file/_env or federated_token_file")
	case len(methods) > 1:
		return nil, s.Errorf("client_secret_env", "set only one credential, not %s", strings.Join(methods, " and "))
	}
	if c.credential != "certificate" && (st.CertificatePasswordEnv != "" || st.CertificatePasswordFile != "") {
		return nil, s.Errorf("certificate_password_env", "a certificate password without certificate_file or certificate_env")
	}
	if c.credential != "static" && st.ClientID == "" {
		return nil, s.Errorf("client_id", "the application (client) id is required")
	}
	for i, a := range st.BreakGlassAccounts {
		if strings.TrimSpace(a) == "" {
			return nil, s.Errorf(fmt.Sprintf("break_glass_accounts[%d]", i), "empty account")
		}
	}
	if st.MalwareMaxDevices < 0 {
		return nil, s.Errorf("malware_max_devices", "must not be negative")
	}

	c.limits = map[string]rateLimit{}
	for class, v := range DefaultRateLimits {
		c.limits[class], _ = parseRate(v)
	}
	for class, v := range st.RateLimits {
		if _, ok := DefaultRateLimits[class]; !ok {
			return nil, s.Errorf("rate_limits."+class, "unknown endpoint class %q (want conditional_access, reports, intune or directory)", class)
		}
		l, err := parseRate(v)
		if err != nil {
			return nil, s.Errorf("rate_limits."+class, "%v", err)
		}
		c.limits[class] = l
	}

	if p := st.Pseudonymise; p != nil {
		if (p.KeyEnv == "") == (p.KeyFile == "") {
			return nil, s.Errorf("pseudonymise.key_env", "set exactly one of key_env or key_file: the key stays outside the store")
		}
		fields := p.Fields
		if len(fields) == 0 {
			fields = []string{"userPrincipalName", "mail", "displayName"}
		}
		for i, f := range fields {
			if _, ok := pseudonymFields[f]; !ok {
				return nil, s.Errorf(fmt.Sprintf("pseudonymise.fields[%d]", i), "unknown field %q (want one of %s)", f, strings.Join(pseudonymFieldNames(), ", "))
			}
		}
		c.pseudFields = fields
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// subject is the artefact subject of the tenant.
func (c *tenantConfig) subject() string { return "msgraph:" + strings.ToLower(c.TenantID) }
