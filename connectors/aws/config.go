package aws

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// Settings is the `settings:` section of an aws connector instance.
//
//	settings:
//	  credentials: {profile: audit}              # or access_key_id_env/secret_access_key_env, or default_chain: true
//	  accounts:                                  # explicit targets ...
//	    - {id: "111122223333", role_arn: "arn:aws:iam::111122223333:role/ExhibitReadOnly", external_id_env: EXHIBIT_EXTERNAL_ID}
//	  organizations: {role_name: ExhibitReadOnly, include: ["*"], exclude: ["Sandbox*"]}  # ... or discovery
//	  regions: [eu-central-1, eu-west-1]         # or all_regions: true
//	  concurrency: 16
//	  service_concurrency: {iam: 2}
//	  endpoint_url: http://127.0.0.1:9000        # simulator / tests only
type Settings struct {
	// Credentials are the base credentials: static keys, a profile, or the SDK's default
	// chain, which the config must ask for.
	Credentials Credentials `yaml:"credentials"`
	// Accounts lists the target accounts. Exclusive with Organizations. When both are
	// empty the connector collects from the base credentials' own account.
	Accounts []Account `yaml:"accounts"`
	// Organizations discovers the target accounts with organizations:ListAccounts.
	Organizations *Organizations `yaml:"organizations"`
	// Regions are collected for regional kinds. Exclusive with AllRegions.
	Regions []string `yaml:"regions"`
	// AllRegions collects every region enabled for each account (ec2:DescribeRegions).
	AllRegions bool `yaml:"all_regions"`
	// HomeRegion is the region used for global services (IAM, S3 control, Organizations,
	// STS, account). Default us-east-1.
	HomeRegion string `yaml:"home_region"`
	// EndpointURL overrides the endpoint of every service (simulators, tests, proxies).
	EndpointURL string `yaml:"endpoint_url"`
	// Endpoints overrides the endpoint per service, keyed by the names in Services().
	Endpoints map[string]string `yaml:"endpoints"`
	// Concurrency is the most collection tasks (one kind group of one account and
	// region) running at once across all accounts and regions. Default 16.
	Concurrency int `yaml:"concurrency"`
	// ServiceConcurrency bounds the tasks calling one service in one account and region
	// (AWS rate limits are per account, region and API). Defaults per service.
	ServiceConcurrency map[string]int `yaml:"service_concurrency"`
	// ExcludeKinds lists kinds not to collect (e.g. services an organisation does not use).
	ExcludeKinds []string `yaml:"exclude_kinds"`
}

// Credentials select the base credentials. Exactly one of static keys, Profile and
// DefaultChain: the connector reads no environment variable or AWS config file unless the
// config asks for the SDK's chain.
type Credentials struct {
	// DefaultChain uses the SDK's default credential chain: environment variables, the
	// shared config and credentials files (AWS_PROFILE, AWS_CA_BUNDLE, ca_bundle), SSO,
	// web identity (AWS_WEB_IDENTITY_TOKEN_FILE, IRSA), container and EC2 instance metadata
	// (IMDSv2). A CA bundle the chain finds applies to evidence requests too.
	DefaultChain bool `yaml:"default_chain"`
	// Profile is a shared config profile for the default chain.
	Profile string `yaml:"profile"`
	// CABundleFile is a PEM file of the CA certificates that AWS endpoints (or a
	// TLS-inspecting proxy) present; when set, only these are trusted, as with the SDK's
	// AWS_CA_BUNDLE.
	CABundleFile string `yaml:"ca_bundle_file"`
	// Static credentials, each an environment variable or a file (demo, simulator, CI).
	AccessKeyIDEnv      string `yaml:"access_key_id_env"`
	AccessKeyIDFile     string `yaml:"access_key_id_file"`
	SecretAccessKeyEnv  string `yaml:"secret_access_key_env"`
	SecretAccessKeyFile string `yaml:"secret_access_key_file"`
	SessionTokenEnv     string `yaml:"session_token_env"`
	SessionTokenFile    string `yaml:"session_token_file"`
}

// Account is one explicit target account.
type Account struct {
	// ID is the 12-digit account id.
	ID string `yaml:"id"`
	// Name is informational (used in include/exclude patterns and logs).
	Name string `yaml:"name"`
	// RoleARN is assumed with sts:AssumeRole; empty uses the base credentials directly
	// (then the base credentials must belong to ID).
	RoleARN string `yaml:"role_arn"`
	// ExternalID is a literal external id (not secret by AWS's definition); or use the
	// env/file forms.
	ExternalID     string `yaml:"external_id"`
	ExternalIDEnv  string `yaml:"external_id_env"`
	ExternalIDFile string `yaml:"external_id_file"`
}

// Organizations configures account discovery through AWS Organizations.
type Organizations struct {
	// RoleName is the role assumed in every discovered account.
	RoleName string `yaml:"role_name"`
	// External id for every assumed role.
	ExternalID     string `yaml:"external_id"`
	ExternalIDEnv  string `yaml:"external_id_env"`
	ExternalIDFile string `yaml:"external_id_file"`
	// Include and Exclude are glob patterns (path.Match) matched against the account id
	// and name. Empty Include includes all; Exclude wins.
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// IncludeSuspended also collects from accounts whose status is not ACTIVE.
	IncludeSuspended bool `yaml:"include_suspended"`
}

var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	roleARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
	roleNamePattern  = regexp.MustCompile(`^[\w+=,.@/-]{1,64}$`)
)

// DefaultConcurrency is the number of collection tasks run at once by default: enough to
// hide latency across accounts, few enough to stay well inside AWS's per-account API rates.
const DefaultConcurrency = 16

// defaultServiceConcurrency bounds per account and region: IAM's control plane throttles
// early (it is global per account), the others allow more.
var defaultServiceConcurrency = map[string]int{"iam": 2, "s3": 4, "ec2": 4}

const fallbackServiceConcurrency = 4

func decodeSettings(s connector.Settings) (*Settings, error) {
	var st Settings
	if err := s.Decode(&st); err != nil {
		return nil, err
	}
	if st.HomeRegion == "" {
		st.HomeRegion = "us-east-1"
	}
	if st.Concurrency == 0 {
		st.Concurrency = DefaultConcurrency
	}
	return &st, st.validate(s)
}

func (st *Settings) validate(s connector.Settings) error {
	c := st.Credentials
	static := c.AccessKeyIDEnv != "" || c.AccessKeyIDFile != "" || c.SecretAccessKeyEnv != "" || c.SecretAccessKeyFile != ""
	if static && c.Profile != "" {
		return s.Errorf("credentials.profile", "set either a profile or static keys, not both")
	}
	if static && c.DefaultChain {
		return s.Errorf("credentials.default_chain", "set either default_chain or static keys, not both")
	}
	if !static && c.Profile == "" && !c.DefaultChain {
		return s.Errorf("credentials", "choose the base credentials: static keys (access_key_id_env or _file with secret_access_key_env or _file), a profile, or default_chain: true for the SDK's chain")
	}
	if static && (c.AccessKeyIDEnv == "") == (c.AccessKeyIDFile == "") {
		return s.Errorf("credentials", "static credentials need exactly one of access_key_id_env and access_key_id_file")
	}
	if static && (c.SecretAccessKeyEnv == "") == (c.SecretAccessKeyFile == "") {
		return s.Errorf("credentials", "static credentials need exactly one of secret_access_key_env and secret_access_key_file")
	}
	if !static && (c.SessionTokenEnv != "" || c.SessionTokenFile != "") {
		return s.Errorf("credentials", "a session token needs static keys")
	}
	if len(st.Accounts) > 0 && st.Organizations != nil {
		return s.Errorf("organizations", "set either accounts or organizations, not both")
	}
	seen := map[string]bool{}
	for i, a := range st.Accounts {
		key := fmt.Sprintf("accounts[%d]", i)
		if !accountIDPattern.MatchString(a.ID) {
			return s.Errorf(key+".id", "want a 12-digit account id, got %q", a.ID)
		}
		if seen[a.ID] {
			return s.Errorf(key+".id", "account %s is listed twice", a.ID)
		}
		seen[a.ID] = true
		if a.RoleARN != "" {
			if !roleARNPattern.MatchString(a.RoleARN) {
				return s.Errorf(key+".role_arn", "want arn:aws:iam::<account>:role/<name>, got %q", a.RoleARN)
			}
			if !strings.Contains(a.RoleARN, "::"+a.ID+":") {
				return s.Errorf(key+".role_arn", "role %q is not in account %s", a.RoleARN, a.ID)
			}
		}
		if err := oneExternalID(a.ExternalID, a.ExternalIDEnv, a.ExternalIDFile); err != nil {
			return s.Errorf(key, "%v", err)
		}
		if a.RoleARN == "" && (a.ExternalID != "" || a.ExternalIDEnv != "" || a.ExternalIDFile != "") {
			return s.Errorf(key, "an external id needs a role_arn")
		}
	}
	if o := st.Organizations; o != nil {
		if !roleNamePattern.MatchString(o.RoleName) {
			return s.Errorf("organizations.role_name", "want the name of the role to assume in each account, got %q", o.RoleName)
		}
		if err := oneExternalID(o.ExternalID, o.ExternalIDEnv, o.ExternalIDFile); err != nil {
			return s.Errorf("organizations", "%v", err)
		}
		for field, pats := range map[string][]string{"include": o.Include, "exclude": o.Exclude} {
			for i, p := range pats {
				if _, err := path.Match(p, ""); err != nil {
					return s.Errorf(fmt.Sprintf("organizations.%s[%d]", field, i), "invalid pattern %q: %v", p, err)
				}
			}
		}
	}
	if st.AllRegions && len(st.Regions) > 0 {
		return s.Errorf("all_regions", "set either regions or all_regions, not both")
	}
	if !st.AllRegions && len(st.Regions) == 0 {
		return s.Errorf("regions", "list the regions to collect, or set all_regions: true")
	}
	regions := map[string]bool{}
	for i, r := range st.Regions {
		if !regionPattern.MatchString(r) {
			return s.Errorf(fmt.Sprintf("regions[%d]", i), "want a region name like eu-central-1, got %q", r)
		}
		if regions[r] {
			return s.Errorf(fmt.Sprintf("regions[%d]", i), "region %s is listed twice", r)
		}
		regions[r] = true
	}
	if !regionPattern.MatchString(st.HomeRegion) {
		return s.Errorf("home_region", "want a region name like us-east-1, got %q", st.HomeRegion)
	}
	if st.EndpointURL != "" {
		if err := checkEndpoint(st.EndpointURL); err != nil {
			return s.Errorf("endpoint_url", "%v", err)
		}
	}
	for _, svc := range sortedKeys(st.Endpoints) {
		if !knownService(svc) {
			return s.Errorf("endpoints."+svc, "unknown service %q (known: %s)", svc, strings.Join(Services(), ", "))
		}
		if err := checkEndpoint(st.Endpoints[svc]); err != nil {
			return s.Errorf("endpoints."+svc, "%v", err)
		}
	}
	if st.Concurrency < 1 || st.Concurrency > 256 {
		return s.Errorf("concurrency", "want 1..256, got %d", st.Concurrency)
	}
	for _, svc := range sortedKeys(st.ServiceConcurrency) {
		if !knownService(svc) {
			return s.Errorf("service_concurrency."+svc, "unknown service %q (known: %s)", svc, strings.Join(Services(), ", "))
		}
		if n := st.ServiceConcurrency[svc]; n < 1 || n > 64 {
			return s.Errorf("service_concurrency."+svc, "want 1..64, got %d", n)
		}
	}
	for i, k := range st.ExcludeKinds {
		if _, ok := kindByName[k]; !ok {
			return s.Errorf(fmt.Sprintf("exclude_kinds[%d]", i), "unknown kind %q", k)
		}
	}
	return nil
}

func oneExternalID(lit, env, file string) error {
	n := 0
	for _, v := range []string{lit, env, file} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("set at most one of external_id, external_id_env and external_id_file")
	}
	return nil
}

func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http(s) URL, got %q", raw)
	}
	return nil
}

// serviceLimit returns the task concurrency for svc in one account and region.
func (st *Settings) serviceLimit(svc string) int {
	if n, ok := st.ServiceConcurrency[svc]; ok {
		return n
	}
	if n, ok := defaultServiceConcurrency[svc]; ok {
		return n
	}
	return fallbackServiceConcurrency
}

// endpoint returns the endpoint override for svc, or "".
func (st *Settings) endpoint(svc string) string {
	if e, ok := st.Endpoints[svc]; ok {
		return e
	}
	return st.EndpointURL
}

// matchAccount applies the organizations include/exclude filters.
func (o *Organizations) matchAccount(id, name string) bool {
	match := func(pats []string) bool {
		for _, p := range pats {
			if ok, _ := path.Match(p, id); ok {
				return true
			}
			if ok, _ := path.Match(p, name); ok && name != "" {
				return true
			}
		}
		return false
	}
	if len(o.Include) > 0 && !match(o.Include) {
		return false
	}
	return !match(o.Exclude)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
