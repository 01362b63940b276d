package github

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// Settings is the `settings:` section of a github connector instance.
//
//	settings:
//	  orgs: [acme]
//	  base_url: https://ghe.example.com/api/v3/   # GitHub Enterprise Server; default api.github.com
//	  app: {app_id: 12345, installation_id: 678, private_key_file: /etc/exhibit/github-app.pem}
//	  # or: token_env: GITHUB_TOKEN
//	  repositories: {exclude: ["sandbox-*"], visibility: [private, internal]}
type Settings struct {
	// Orgs are the organisations to collect. With App authentication there is exactly one:
	// an installation belongs to one account.
	Orgs []string `yaml:"orgs"`
	// BaseURL is the REST API root; empty means https://api.github.com/. For GitHub
	// Enterprise Server give https://HOST/api/v3/ (or https://HOST, "/api/v3/" is added).
	BaseURL string `yaml:"base_url"`
	// UploadURL is GitHub Enterprise Server's upload root; defaults to BaseURL. Exhibit
	// never uploads; go-github only needs a valid one.
	UploadURL string `yaml:"upload_url"`

	// TokenEnv / TokenFile name where a personal access token is read (fine-grained or
	// classic with read:org, repo, security_events, read:audit_log).
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// App authenticates as a GitHub App installation (recommended: higher rate limit,
	// read-only permissions, short-lived tokens).
	App *AppSettings `yaml:"app"`

	// Repositories selects the repositories collected in depth.
	Repositories RepoFilter `yaml:"repositories"`

	// Concurrency bounds the requests in flight at once. GitHub asks integrators to avoid
	// many concurrent requests (secondary rate limits); default 4, at most 10.
	Concurrency int `yaml:"concurrency"`
	// PerPage is the page size of listings (GitHub's maximum is 100, the default here).
	PerPage int `yaml:"per_page"`
	// SecurityPolicy says for which repositories SECURITY.md is checked: public (default;
	// the file is addressed to outside reporters), all, or none.
	SecurityPolicy string `yaml:"security_policy"`
	// AuditLog collects the latest organisation audit log events (GitHub Enterprise Cloud
	// only; elsewhere the artefact is a not_available gap). Default true.
	AuditLog *bool `yaml:"audit_log"`
}

// AppSettings authenticate as a GitHub App installation.
type AppSettings struct {
	AppID          int64  `yaml:"app_id"`
	InstallationID int64  `yaml:"installation_id"`
	PrivateKeyEnv  string `yaml:"private_key_env"`
	PrivateKeyFile string `yaml:"private_key_file"`
}

// RepoFilter selects repositories by name, topic and visibility. Archived repositories
// always appear in the repository inventory but are never collected in depth.
type RepoFilter struct {
	// Include and Exclude are globs on the repository name (path.Match syntax).
	// An empty Include means every repository.
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// Topics, when set, keeps only repositories with at least one of these topics;
	// ExcludeTopics drops repositories with any of them.
	Topics        []string `yaml:"topics"`
	ExcludeTopics []string `yaml:"exclude_topics"`
	// Visibility, when set, keeps only these visibilities (public, private, internal).
	Visibility []string `yaml:"visibility"`
}

// Defaults and bounds of the settings.
const (
	DefaultConcurrency = 4
	MaxConcurrency     = 10
	DefaultPerPage     = 100
	defaultBaseURL     = "https://api.github.com/"
)

// parseSettings decodes and validates a settings section. Every error names the setting
// (and, through connector.Settings, the file and line).
func parseSettings(s connector.Settings) (*Settings, error) {
	var cfg Settings
	if err := s.Decode(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Orgs) == 0 {
		return nil, s.Errorf("orgs", "at least one organisation is required")
	}
	seen := map[string]bool{}
	for i, o := range cfg.Orgs {
		if o == "" || strings.ContainsAny(o, "/ ?#") {
			return nil, s.Errorf(fmt.Sprintf("orgs[%d]", i), "%q is not an organisation login", o)
		}
		if seen[strings.ToLower(o)] {
			return nil, s.Errorf(fmt.Sprintf("orgs[%d]", i), "organisation %q is listed twice", o)
		}
		seen[strings.ToLower(o)] = true
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = defaultBaseURL
	}
	if err := checkURL(cfg.BaseURL); err != nil {
		return nil, s.Errorf("base_url", "%v", err)
	}
	if cfg.UploadURL == "" {
		cfg.UploadURL = cfg.BaseURL
	} else if err := checkURL(cfg.UploadURL); err != nil {
		return nil, s.Errorf("upload_url", "%v", err)
	}

	hasToken := cfg.TokenEnv != "" || cfg.TokenFile != ""
	switch {
	case hasToken && cfg.App != nil:
		return nil, s.Errorf("app", "set either a token (token_env/token_file) or app, not both")
	case !hasToken && cfg.App == nil:
		return nil, s.Errorf("token_env", "authentication is required: set app (GitHub App) or token_env/token_file")
	case cfg.TokenEnv != "" && cfg.TokenFile != "":
		return nil, s.Errorf("token_file", "set token_env or token_file, not both")
	}
	if a := cfg.App; a != nil {
		if a.AppID <= 0 {
			return nil, s.Errorf("app.app_id", "the GitHub App id is required")
		}
		if a.InstallationID <= 0 {
			return nil, s.Errorf("app.installation_id", "the installation id is required")
		}
		if (a.PrivateKeyEnv == "") == (a.PrivateKeyFile == "") {
			return nil, s.Errorf("app.private_key_file", "set exactly one of private_key_env or private_key_file")
		}
		if len(cfg.Orgs) != 1 {
			return nil, s.Errorf("orgs", "a GitHub App installation covers one organisation; configure one connector instance per organisation")
		}
	}

	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > MaxConcurrency {
		return nil, s.Errorf("concurrency", "must be between 1 and %d (GitHub's secondary rate limits punish more), got %d", MaxConcurrency, cfg.Concurrency)
	}
	if cfg.PerPage == 0 {
		cfg.PerPage = DefaultPerPage
	}
	if cfg.PerPage < 1 || cfg.PerPage > 100 {
		return nil, s.Errorf("per_page", "must be between 1 and 100, got %d", cfg.PerPage)
	}
	switch cfg.SecurityPolicy {
	case "":
		cfg.SecurityPolicy = "public"
	case "public", "all", "none":
	default:
		return nil, s.Errorf("security_policy", "must be public, all or none, got %q", cfg.SecurityPolicy)
	}
	if cfg.AuditLog == nil {
		on := true
		cfg.AuditLog = &on
	}
	f := &cfg.Repositories
	for key, globs := range map[string][]string{"repositories.include": f.Include, "repositories.exclude": f.Exclude} {
		for i, g := range globs {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				return nil, s.Errorf(fmt.Sprintf("%s[%d]", key, i), "invalid glob %q", g)
			}
		}
	}
	for i, v := range f.Visibility {
		if !slices.Contains([]string{"public", "private", "internal"}, v) {
			return nil, s.Errorf(fmt.Sprintf("repositories.visibility[%d]", i), "must be public, private or internal, got %q", v)
		}
	}
	return &cfg, nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %v", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q must be an absolute http(s) URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("credentials do not belong in the URL; use token_env/token_file or app")
	}
	return nil
}

// selects reports whether the filter keeps a repository and, if not, why (for the
// inventory document, so an auditor sees what was left out and by which setting).
func (f *RepoFilter) selects(name, visibility string, topics []string) (bool, string) {
	if len(f.Include) > 0 {
		ok := false
		for _, g := range f.Include {
			if m, _ := path.Match(g, name); m {
				ok = true
				break
			}
		}
		if !ok {
			return false, "not matched by repositories.include"
		}
	}
	for _, g := range f.Exclude {
		if m, _ := path.Match(g, name); m {
			return false, "repositories.exclude " + g
		}
	}
	if len(f.Visibility) > 0 && !slices.Contains(f.Visibility, visibility) {
		return false, "repositories.visibility"
	}
	if len(f.Topics) > 0 && !slices.ContainsFunc(topics, func(t string) bool { return slices.Contains(f.Topics, t) }) {
		return false, "repositories.topics"
	}
	for _, t := range topics {
		if slices.Contains(f.ExcludeTopics, t) {
			return false, "repositories.exclude_topics " + t
		}
	}
	return true, ""
}
