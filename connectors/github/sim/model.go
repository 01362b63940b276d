package sim

import (
	"fmt"
	"hash/fnv"
	"time"
)

// Org is the simulated organisation. Tests may change it before serving (Sim.Org).
type Org struct {
	Login                    string
	Plan                     string
	TwoFactorRequired        bool
	DefaultPermission        string // read, write, admin, none
	MembersCanCreateRepos    bool
	MembersCanCreatePublic   bool
	MembersCanCreatePrivate  bool
	MembersCanCreateInternal bool
	MembersCanDeleteRepos    bool
	Owners                   []string
	Members                  []Member // everyone in the org, owners included
	OutsideCollaborators     []string
	Actions                  ActionsPolicy
	Hooks                    []Hook
	Rulesets                 []*Ruleset // organisation rulesets
	Audit                    []AuditEvent
	Repos                    []*Repo
}

// Member is an organisation member.
type Member struct {
	Login string
	TwoFA bool
	// Insecure2FA: 2FA enabled with a method GitHub counts as insecure (SMS).
	Insecure2FA bool
}

// ActionsPolicy is the organisation's GitHub Actions policy.
type ActionsPolicy struct {
	EnabledRepositories string // all, none, selected
	AllowedActions      string // all, local_only, selected
	GitHubOwnedAllowed  bool
	VerifiedAllowed     bool
	PatternsAllowed     []string
	DefaultWorkflow     string // read, write
	CanApprovePRs       bool
}

// Hook is an organisation webhook.
type Hook struct {
	ID          int64
	URL         string
	Secret      bool
	InsecureSSL bool
	Events      []string
	Active      bool
}

// AuditEvent is an audit log entry.
type AuditEvent struct {
	At     time.Time
	Action string
	Actor  string
	Repo   string
	User   string
}

// Repo is a simulated repository.
type Repo struct {
	ID            int64
	Name          string
	Visibility    string // public, private, internal
	Archived      bool
	Fork          bool
	DefaultBranch string
	Topics        []string
	CreatedAt     time.Time
	PushedAt      time.Time
	// Security features: "enabled" or "disabled".
	AdvancedSecurity, SecretScanning, PushProtection, DependabotUpdates string
	DependabotAlertsEnabled                                             bool
	// Protection is the classic protection of the default branch; nil means unprotected.
	Protection    *Protection
	Rulesets      []*Ruleset
	Collaborators []Collaborator
	// Files are the paths that exist (SECURITY.md and friends).
	Files []string
	// Open alerts.
	DependabotAlerts []DependabotAlert
	CodeAlerts       []CodeAlert
	SecretAlerts     []SecretAlert
}

// Protection is classic branch protection.
type Protection struct {
	Reviews                *Reviews
	Checks                 *Checks
	EnforceAdmins          bool
	AllowForcePushes       bool
	AllowDeletions         bool
	Signatures             bool
	LinearHistory          bool
	ConversationResolution bool
}

// Reviews are required pull request reviews.
type Reviews struct {
	Count        int
	DismissStale bool
	CodeOwners   bool
	LastPush     bool
	BypassUsers  []string
}

// Checks are required status checks.
type Checks struct {
	Strict   bool
	Contexts []string
}

// Ruleset is a repository or organisation ruleset.
type Ruleset struct {
	ID          int64
	Name        string
	Target      string // branch, tag, push
	Enforcement string // active, evaluate, disabled
	Include     []string
	Exclude     []string
	// RepoInclude (organisation rulesets) are fnmatch patterns on repository names.
	RepoInclude []string
	Bypass      []Bypass
	Rules       []Rule
}

// Bypass is a ruleset bypass actor.
type Bypass struct {
	ActorID   int64
	ActorType string // RepositoryRole, Team, Integration, OrganizationAdmin
	Mode      string // always, pull_request
}

// Rule is a ruleset rule with its parameters as GitHub names them.
type Rule struct {
	Type   string
	Params map[string]any
}

// Collaborator has access to a repository through Role: admin, maintain, write, triage, read.
type Collaborator struct {
	Login string
	Role  string
	Bot   bool
}

// DependabotAlert is an open Dependabot alert.
type DependabotAlert struct {
	Number    int
	Severity  string
	Package   string
	Ecosystem string
	Manifest  string
	GHSA, CVE string
	Summary   string
	Created   time.Time
}

// CodeAlert is an open code scanning alert.
type CodeAlert struct {
	Number   int
	RuleID   string
	Severity string // security_severity_level: critical, high, medium, low
	Tool     string
	Created  time.Time
}

// SecretAlert is an open secret scanning alert. Secret is the leaked value, returned unless
// the request says hide_secret=true (tests plant a canary here).
type SecretAlert struct {
	Number     int
	SecretType string
	Secret     string
	Bypassed   bool
	Created    time.Time
}

func days(epoch time.Time, n int) time.Time { return epoch.Add(-time.Duration(n) * 24 * time.Hour) }

// userID gives every login a stable id.
func userID(login string) int64 {
	h := fnv.New32a()
	h.Write([]byte(login))
	return int64(h.Sum32()%9_000_000) + 1_000_000
}

// strongProtection is what a well-run repository has.
func strongProtection() *Protection {
	return &Protection{
		Reviews:       &Reviews{Count: 2, DismissStale: true, CodeOwners: true, LastPush: true},
		Checks:        &Checks{Strict: true, Contexts: []string{"ci/build", "ci/test"}},
		EnforceAdmins: true, Signatures: true, LinearHistory: true, ConversationResolution: true,
	}
}

// strongRuleset protects the default branch through a ruleset, with no one able to bypass.
func strongRuleset(id int64, name string) *Ruleset {
	return &Ruleset{
		ID: id, Name: name, Target: "branch", Enforcement: "active",
		Include: []string{"~DEFAULT_BRANCH"}, Exclude: []string{}, Bypass: []Bypass{},
		Rules: []Rule{
			{Type: "deletion"},
			{Type: "non_fast_forward"},
			{Type: "required_signatures"},
			{Type: "pull_request", Params: map[string]any{
				"required_approving_review_count": 2, "dismiss_stale_reviews_on_push": true, "require_code_owner_review": true,
				"require_last_push_approval": true, "required_review_thread_resolution": true,
				"allowed_merge_methods": []string{"squash", "rebase"},
			}},
			{Type: "required_status_checks", Params: map[string]any{
				"strict_required_status_checks_policy": true, "do_not_enforce_on_create": false,
				"required_status_checks": []map[string]any{{"context": "ci/build"}, {"context": "ci/test", "integration_id": 15368}},
			}},
			// A rule type go-github v60 cannot decode (google/go-github#3098); the connector must cope.
			{Type: "merge_queue", Params: map[string]any{
				"check_response_timeout_minutes": 60, "grouping_strategy": "ALLGREEN", "max_entries_to_build": 5,
				"max_entries_to_merge": 5, "merge_method": "SQUASH", "min_entries_to_merge": 1, "min_entries_to_merge_wait_minutes": 5,
			}},
		},
	}
}

func collabs(admins []string, writers ...string) []Collaborator {
	var out []Collaborator
	for _, a := range admins {
		out = append(out, Collaborator{Login: a, Role: "admin"})
	}
	for _, w := range writers {
		out = append(out, Collaborator{Login: w, Role: "write"})
	}
	return out
}

// DemoOrg is the default organisation: twelve repositories, mostly well configured, with
// deliberate failures an auditor should see:
//   - legacy-billing has no branch protection at all;
//   - web-frontend does not dismiss stale approvals;
//   - data-pipeline has an open critical Dependabot alert 45 days old;
//   - old-prototype is archived (reported, not collected in depth);
//   - infra-terraform is protected by a ruleset only, next to one in evaluate mode, and the
//     organisation baseline ruleset is in evaluate mode too (neither counts).
func DemoOrg(login string, epoch time.Time) *Org {
	o := &Org{
		Login: login, Plan: "enterprise", TwoFactorRequired: true, DefaultPermission: "read",
		MembersCanCreateRepos: false, MembersCanCreatePrivate: false, MembersCanCreateInternal: false,
		Owners: []string{"alice-admin", "bob-admin"},
		Actions: ActionsPolicy{EnabledRepositories: "all", AllowedActions: "selected", GitHubOwnedAllowed: true,
			PatternsAllowed: []string{login + "/*", "docker/*"}, DefaultWorkflow: "read"},
		Hooks: []Hook{{ID: 4101, URL: "https://hooks.example.com/github/" + login, Secret: true, Events: []string{"push", "pull_request"}, Active: true}},
		Rulesets: []*Ruleset{{
			ID: 9001, Name: "org-baseline", Target: "branch", Enforcement: "evaluate",
			Include: []string{"~DEFAULT_BRANCH"}, Exclude: []string{}, RepoInclude: []string{"~ALL"},
			Bypass: []Bypass{{ActorID: 1, ActorType: "OrganizationAdmin", Mode: "always"}},
			Rules:  []Rule{{Type: "deletion"}, {Type: "non_fast_forward"}, {Type: "required_signatures"}},
		}},
	}
	for _, m := range []string{"alice-admin", "bob-admin", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"} {
		o.Members = append(o.Members, Member{Login: m, TwoFA: true})
	}
	for i, a := range []struct{ action, actor, repo string }{
		{"repo.create", "alice-admin", "payments-worker"}, {"protected_branch.update", "bob-admin", "payments-api"},
		{"org.update_member", "alice-admin", ""}, {"repository_ruleset.create", "bob-admin", "infra-terraform"},
	} {
		o.Audit = append(o.Audit, AuditEvent{At: epoch.Add(-time.Duration(i+1) * 3 * time.Hour), Action: a.action, Actor: a.actor, Repo: a.repo})
	}
	recent := days(epoch, 2)
	good := func(name, vis string) *Repo {
		return &Repo{
			Name: name, Visibility: vis, DefaultBranch: "main", CreatedAt: days(epoch, 900), PushedAt: recent,
			AdvancedSecurity: "enabled", SecretScanning: "enabled", PushProtection: "enabled", DependabotUpdates: "enabled",
			DependabotAlertsEnabled: true, Protection: strongProtection(),
			Collaborators: collabs([]string{"carol"}, "dave", "erin"),
			Files:         []string{"SECURITY.md", "README.md", ".github/CODEOWNERS"},
		}
	}
	payments := good("payments-api", "private")
	payments.Topics = []string{"pci", "payments"}
	payments.DependabotAlerts = []DependabotAlert{{Number: 3, Severity: "low", Package: "minimist", Ecosystem: "npm", Manifest: "package-lock.json",
		GHSA: "GHSA-vh95-rmgr-6w4m", CVE: "CVE-2020-7598", Summary: "Prototype pollution in minimist", Created: days(epoch, 100)}}

	worker := good("payments-worker", "private")
	worker.Protection = nil
	worker.Rulesets = []*Ruleset{strongRuleset(5001, "main protection")}

	web := good("web-frontend", "public")
	web.Protection.Reviews.DismissStale = false
	web.Topics = []string{"frontend"}
	web.DependabotAlerts = []DependabotAlert{{Number: 12, Severity: "high", Package: "axios", Ecosystem: "npm", Manifest: "package-lock.json",
		GHSA: "GHSA-wf5p-g6vw-rhxx", CVE: "CVE-2023-45857", Summary: "Axios Cross-Site Request Forgery Vulnerability", Created: days(epoch, 5)}}

	legacy := good("legacy-billing", "private")
	legacy.Protection = nil
	legacy.PushedAt = days(epoch, 20)

	pipeline := good("data-pipeline", "private")
	pipeline.DependabotAlerts = []DependabotAlert{{Number: 7, Severity: "critical", Package: "jackson-databind", Ecosystem: "maven", Manifest: "pom.xml",
		GHSA: "GHSA-57j2-w4cx-62h2", CVE: "CVE-2020-36518", Summary: "Deeply nested json in jackson-databind", Created: days(epoch, 45)}}

	identity := good("identity-service", "private")
	identity.Rulesets = []*Ruleset{{
		ID: 5002, Name: "release hygiene", Target: "branch", Enforcement: "active",
		Include: []string{"refs/heads/main", "refs/heads/release/**"}, Exclude: []string{}, Bypass: []Bypass{},
		Rules: []Rule{{Type: "required_linear_history"}, {Type: "commit_message_pattern", Params: map[string]any{"operator": "starts_with", "pattern": "JIRA-", "negate": false, "name": "ticket"}}},
	}}

	infra := good("infra-terraform", "internal")
	infra.Protection = nil
	infra.Rulesets = []*Ruleset{strongRuleset(5003, "protect main"), {
		ID: 5004, Name: "trial: require deployments", Target: "branch", Enforcement: "evaluate",
		Include: []string{"~DEFAULT_BRANCH"}, Exclude: []string{}, Bypass: []Bypass{},
		Rules: []Rule{{Type: "required_deployments", Params: map[string]any{"required_deployment_environments": []string{"staging"}}}},
	}}

	mobile := good("mobile-app", "private")
	docs := good("docs-site", "public")
	sdk := good("sdk-go", "public")
	sdk.CodeAlerts = []CodeAlert{{Number: 4, RuleID: "go/path-injection", Severity: "medium", Tool: "CodeQL", Created: days(epoch, 10)}}
	proto := good("old-prototype", "private")
	proto.Archived, proto.Protection, proto.PushedAt = true, nil, days(epoch, 700)
	tools := good("internal-tools", "internal")

	o.Repos = []*Repo{payments, worker, web, legacy, pipeline, identity, infra, mobile, docs, sdk, proto, tools}
	for i, r := range o.Repos {
		r.ID = int64(700100 + i)
	}
	return o
}

// SyntheticOrg is an organisation of n repositories whose configurations cycle through
// every case the connector must handle, deterministically for a seed: classic protection
// strong and weak, rulesets alone or with classic protection, rulesets in evaluate and
// disabled mode, bypass actors, unprotected branches, missing security features, too
// many admins, inactive and archived repositories, open alerts of every kind. With weak,
// the organisation settings are the weak ones too (2FA not required, write base
// permission, members without 2FA, outside collaborators, unrestricted Actions, a webhook
// without secret), so every rule has a failing example.
func SyntheticOrg(login string, n int, seed int64, weak bool, epoch time.Time) *Org {
	o := DemoOrg(login, epoch)
	o.Repos = nil
	o.Rulesets = []*Ruleset{{
		ID: 9100, Name: "services: no force push", Target: "branch", Enforcement: "active",
		Include: []string{"~DEFAULT_BRANCH"}, Exclude: []string{}, RepoInclude: []string{"svc-*"},
		Bypass: []Bypass{{ActorID: 1, ActorType: "OrganizationAdmin", Mode: "always"}},
		Rules:  []Rule{{Type: "deletion"}, {Type: "non_fast_forward"}},
	}, {
		ID: 9101, Name: "org-baseline", Target: "branch", Enforcement: "evaluate",
		Include: []string{"~ALL"}, Exclude: []string{}, RepoInclude: []string{"~ALL"}, Bypass: []Bypass{},
		Rules: []Rule{{Type: "required_signatures"}},
	}}
	if weak {
		o.TwoFactorRequired, o.DefaultPermission = false, "write"
		o.MembersCanCreateRepos, o.MembersCanCreatePublic, o.MembersCanDeleteRepos = true, true, true
		o.Members = append(o.Members, Member{Login: "mallory", TwoFA: false}, Member{Login: "oscar", TwoFA: false},
			Member{Login: "sms-sam", TwoFA: true, Insecure2FA: true})
		o.OutsideCollaborators = []string{"contractor-carla", "vendor-victor"}
		o.Actions = ActionsPolicy{EnabledRepositories: "all", AllowedActions: "all", DefaultWorkflow: "write", CanApprovePRs: true}
		o.Hooks = append(o.Hooks, Hook{ID: 4102, URL: "http://ci.example.net/hook?token=canary-hook-token", Secret: false, InsecureSSL: true, Events: []string{"*"}, Active: true})
		o.Owners = append(o.Owners, "carol", "dave", "erin", "frank")
	}
	k := int(seed % 10)
	if k < 0 {
		k = -k
	}
	prefixes := []string{"svc", "lib", "tool"}
	for i := 0; i < n; i++ {
		p := (i + k) % 10
		r := &Repo{
			ID: int64(800000 + i), Name: fmt.Sprintf("%s-%04d", prefixes[i%3], i), Visibility: "private", DefaultBranch: "main",
			CreatedAt: days(epoch, 600), PushedAt: days(epoch, 1+i%30),
			AdvancedSecurity: "enabled", SecretScanning: "enabled", PushProtection: "enabled", DependabotUpdates: "enabled",
			DependabotAlertsEnabled: true, Files: []string{"README.md"},
			Collaborators: collabs([]string{"carol"}, "dave", "erin", fmt.Sprintf("dev-%02d", i%17)),
		}
		switch {
		case i%5 == 0:
			r.Visibility = "public"
		case i%7 == 6:
			r.Visibility = "internal"
		}
		switch p {
		case 0: // classic and ruleset together
			r.Protection = strongProtection()
			r.Rulesets = []*Ruleset{strongRuleset(int64(600000+i), "main")}
		case 1, 8:
			r.Protection = strongProtection()
		case 2: // ruleset only
			r.Rulesets = []*Ruleset{strongRuleset(int64(600000+i), "main")}
		case 3: // unprotected
		case 4: // weak classic protection
			r.Protection = &Protection{Reviews: &Reviews{Count: 1}, AllowForcePushes: true}
		case 5: // ruleset that admins and a team may bypass
			rs := strongRuleset(int64(600000+i), "main")
			rs.Bypass = []Bypass{{ActorID: 5, ActorType: "RepositoryRole", Mode: "always"}, {ActorID: 4242, ActorType: "Team", Mode: "pull_request"}}
			r.Rulesets = []*Ruleset{rs}
		case 6: // ruleset only evaluated: nothing enforced
			rs := strongRuleset(int64(600000+i), "main (trial)")
			rs.Enforcement = "evaluate"
			r.Rulesets = []*Ruleset{rs}
		case 7: // a disabled ruleset next to classic protection that admins may bypass
			rs := strongRuleset(int64(600000+i), "old")
			rs.Enforcement = "disabled"
			r.Rulesets = []*Ruleset{rs}
			r.Protection = strongProtection()
			r.Protection.EnforceAdmins = false
		case 9: // classic without code owners, stale dismissal or strict checks, and a ruleset
			// whose only rule protects nothing the effective document models, with a team
			// that may bypass it: still a bypass
			r.Protection = &Protection{Reviews: &Reviews{Count: 2}, Checks: &Checks{Contexts: []string{"ci"}}, EnforceAdmins: true}
			r.Rulesets = []*Ruleset{{ID: int64(600000 + i), Name: "commit emails", Target: "branch", Enforcement: "active",
				Include: []string{"~DEFAULT_BRANCH"}, Exclude: []string{}, Bypass: []Bypass{{ActorID: 4343, ActorType: "Team", Mode: "always"}},
				Rules: []Rule{{Type: "commit_author_email_pattern", Params: map[string]any{"operator": "ends_with", "pattern": "@example.com", "negate": false, "name": "company"}}}}}
		}
		if i%6 == 5 {
			r.SecretScanning = "disabled"
		}
		if i%4 == 3 {
			r.PushProtection = "disabled"
		}
		if i%9 == 4 {
			r.DependabotAlertsEnabled = false
		}
		if i%3 != 2 {
			r.Files = append(r.Files, []string{"SECURITY.md", ".github/SECURITY.md", "docs/SECURITY.md"}[i%3])
		}
		if i%4 != 1 { // code-owner review without a CODEOWNERS file asks no one
			r.Files = append(r.Files, []string{".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}[i%3])
		}
		if i%8 == 3 {
			r.Collaborators = append(r.Collaborators, collabs([]string{"grace", "heidi", "ivan", "judy"})...)
		}
		if i%13 == 7 {
			r.PushedAt = days(epoch, 400)
		}
		if i%23 == 11 {
			r.Archived = true
		}
		if i%4 == 0 {
			sev := []string{"critical", "high", "medium", "low"}[(i/4)%4]
			r.DependabotAlerts = []DependabotAlert{{Number: 1, Severity: sev, Package: "lodash", Ecosystem: "npm", Manifest: "package-lock.json",
				GHSA: "GHSA-jf85-cpcp-j695", CVE: "CVE-2019-10744", Summary: "Prototype Pollution in lodash", Created: days(epoch, 3+(i*7)%90)}}
		}
		if i%5 == 1 {
			r.CodeAlerts = []CodeAlert{{Number: 1, RuleID: "js/sql-injection", Severity: []string{"critical", "high", "medium"}[i%3], Tool: "CodeQL", Created: days(epoch, 2+(i*11)%60)}}
		}
		if i%11 == 3 {
			r.SecretAlerts = []SecretAlert{{Number: 1, SecretType: "aws_access_key_id", Secret: "AKIACANARYSECRET0001", Created: days(epoch, 1+i%20), Bypassed: i%2 == 0}}
		}
		o.Repos = append(o.Repos, r)
	}
	return o
}
