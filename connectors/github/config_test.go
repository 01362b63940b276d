package github

import (
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/core/connector"
)

func TestSettings(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantErr    string // substring; "" means valid
		check      func(t *testing.T, s *Settings)
	}{
		{name: "token", yaml: "orgs: [acme]\ntoken_env: GITHUB_TOKEN\n", check: func(t *testing.T, s *Settings) {
			if s.BaseURL != defaultBaseURL || s.Concurrency != DefaultConcurrency || s.PerPage != 100 || s.SecurityPolicy != "public" || !*s.AuditLog {
				t.Errorf("defaults not applied: %+v", s)
			}
		}},
		{name: "app on GHES", yaml: "orgs: [acme]\nbase_url: https://ghe.example.com/api/v3/\napp: {app_id: 1, installation_id: 2, private_key_file: key.pem}\n"},
		{name: "filters", yaml: "orgs: [acme]\ntoken_file: t\nrepositories: {include: [\"svc-*\"], exclude: [sandbox], visibility: [private], topics: [pci]}\n"},
		{name: "no org", yaml: "token_env: T\n", wantErr: "test.yaml:1: settings.orgs: at least one organisation"},
		{name: "duplicate org", yaml: "orgs: [acme, ACME]\ntoken_env: T\n", wantErr: "test.yaml:1: settings.orgs[1]: organisation \"ACME\" is listed twice"},
		{name: "no auth", yaml: "orgs: [acme]\n", wantErr: "authentication is required"},
		{name: "both auths", yaml: "orgs: [acme]\ntoken_env: T\napp: {app_id: 1, installation_id: 2, private_key_env: K}\n", wantErr: "test.yaml:3: settings.app: set either a token"},
		{name: "token env and file", yaml: "orgs: [acme]\ntoken_env: T\ntoken_file: f\n", wantErr: "set token_env or token_file, not both"},
		{name: "app without key", yaml: "orgs: [acme]\napp: {app_id: 1, installation_id: 2}\n", wantErr: "settings.app.private_key_file: set exactly one"},
		{name: "app without installation", yaml: "orgs: [acme]\napp: {app_id: 1, private_key_env: K}\n", wantErr: "settings.app.installation_id"},
		{name: "app for two orgs", yaml: "orgs: [a, b]\napp: {app_id: 1, installation_id: 2, private_key_env: K}\n", wantErr: "one connector instance per organisation"},
		{name: "credentials in URL", yaml: "orgs: [acme]\ntoken_env: T\nbase_url: https://user:pw@ghe.example.com/\n", wantErr: "credentials do not belong in the URL"},
		{name: "relative URL", yaml: "orgs: [acme]\ntoken_env: T\nbase_url: ghe.example.com\n", wantErr: "must be an absolute http(s) URL"},
		{name: "too concurrent", yaml: "orgs: [acme]\ntoken_env: T\nconcurrency: 50\n", wantErr: "test.yaml:3: settings.concurrency: must be between 1 and 10"},
		{name: "page too big", yaml: "orgs: [acme]\ntoken_env: T\nper_page: 500\n", wantErr: "settings.per_page"},
		{name: "bad glob", yaml: "orgs: [acme]\ntoken_env: T\nrepositories: {exclude: [\"[\"]}\n", wantErr: "settings.repositories.exclude[0]: invalid glob"},
		{name: "bad visibility", yaml: "orgs: [acme]\ntoken_env: T\nrepositories: {visibility: [secret]}\n", wantErr: "repositories.visibility[0]"},
		{name: "bad security policy", yaml: "orgs: [acme]\ntoken_env: T\nsecurity_policy: some\n", wantErr: "security_policy"},
		{name: "unknown key", yaml: "orgs: [acme]\ntoken_env: T\ntokn: x\n", wantErr: "tokn"},
		{name: "inline token", yaml: "orgs: [acme]\ntoken: ghp_x\n", wantErr: "token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := config.NewSettings("test.yaml", tc.yaml)
			if err != nil {
				t.Fatal(err)
			}
			s, err := parseSettings(st)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if tc.check != nil && s != nil {
				tc.check(t, s)
			}
			if err == nil {
				// New must accept what parseSettings accepts, without network I/O.
				if _, err := (&Factory{}).New(st, connector.Options{}); err != nil {
					t.Fatalf("New: %v", err)
				}
			}
		})
	}
}

func TestRepoFilter(t *testing.T) {
	f := RepoFilter{Include: []string{"svc-*", "lib-*"}, Exclude: []string{"svc-legacy*"}, Visibility: []string{"private", "internal"},
		Topics: []string{"pci", "sox"}, ExcludeTopics: []string{"sandbox"}}
	tests := []struct {
		name, repo, vis string
		topics          []string
		want            bool
		why             string
	}{
		{"selected", "svc-pay", "private", []string{"pci"}, true, ""},
		{"not included", "tool-x", "private", []string{"pci"}, false, "not matched by repositories.include"},
		{"excluded", "svc-legacy-1", "private", []string{"pci"}, false, "repositories.exclude svc-legacy*"},
		{"public", "svc-pay", "public", []string{"pci"}, false, "repositories.visibility"},
		{"no topic", "lib-a", "internal", nil, false, "repositories.topics"},
		{"excluded topic", "lib-a", "internal", []string{"sox", "sandbox"}, false, "repositories.exclude_topics sandbox"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := f.selects(tc.repo, tc.vis, tc.topics)
			if got != tc.want || why != tc.why {
				t.Errorf("selects = %v %q, want %v %q", got, why, tc.want, tc.why)
			}
		})
	}
}
