// Package github collects ISO 27001 evidence from GitHub organisations (github.com and
// GitHub Enterprise Server) through go-github: organisation settings, Actions policies,
// per-repository default-branch protection (classic protection and rulesets combined),
// access, security features and open security alerts.
//
// Every request goes through Options.HTTPClient (capture, redaction) under a rate limiter
// that honours GitHub's primary and secondary rate limits (ratelimit.go). Documents are
// deterministic: lists are sorted and no collection time is written into them.
package github

import (
	"sort"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// Version is recorded in every envelope; bump it when a document changes shape.
const Version = "2.0.0"

// Factory creates github connectors. The zero value is ready to use.
type Factory struct {
	// sleep replaces real waiting in tests (rate-limit waits advance a fake clock instead).
	sleep sleeper
}

var _ connector.Factory = (*Factory)(nil)

// Type implements connector.Factory.
func (*Factory) Type() string { return "github" }

// Version implements connector.Factory.
func (*Factory) Version() string { return Version }

// kindSpec declares one artefact kind with what each kind of credential needs for it, so
// the deploy files and the README's tables are derived from the same table the connector
// is built from (and tested against GitHub's per-operation requirements).
type kindSpec struct {
	Name, Title, Scope string
	// Permissions are GitHub App (and fine-grained token) permissions as "name:level".
	Permissions []string
	// ClassicScopes are the OAuth scopes a personal access token (classic) needs.
	ClassicScopes []string
	// Endpoints are the REST calls behind the kind, as "METHOD /path" (query after a
	// space or "?"), for app-permissions.md and the description test.
	Endpoints []string
}

// The artefact kinds, in the order they are collected.
const (
	kindOrgSettings         = "github.org.settings"
	kindMembersWithout2FA   = "github.org.members_without_2fa"
	kindMembersInsecure2FA  = "github.org.members_insecure_2fa"
	kindOwners              = "github.org.owners"
	kindOutsideCollabs      = "github.org.outside_collaborators"
	kindActionsPermissions  = "github.org.actions_permissions"
	kindWorkflowPermissions = "github.org.actions_workflow_permissions"
	kindWebhooks            = "github.org.webhooks"
	kindAuditLog            = "github.org.audit_log"
	kindRepositories        = "github.org.repositories"
	kindDependabotAlerts    = "github.org.dependabot_alerts"
	kindCodeScanningAlerts  = "github.org.code_scanning_alerts"
	kindSecretScanAlerts    = "github.org.secret_scanning_alerts"
	kindSecurityAnalysis    = "github.repo.security_analysis"
	kindBranchProtection    = "github.repo.branch_protection"
	kindRulesets            = "github.repo.rulesets"
	kindEffectiveProtection = "github.repo.default_branch_protection"
	kindCollaborators       = "github.repo.collaborators"
	kindVulnAlerts          = "github.repo.vulnerability_alerts"
	kindSecurityPolicy      = "github.repo.security_policy"
	kindRateLimit           = "github.rate_limit"
)

var kinds = []kindSpec{
	{kindOrgSettings, "Organisation settings: 2FA requirement, base permission, repository creation rights", "org",
		[]string{"organization_administration:read"}, []string{"admin:org"}, []string{"GET /orgs/{org}"}},
	{kindMembersWithout2FA, "Organisation members without two-factor authentication", "org",
		[]string{"members:read", "organization_administration:read"}, []string{"read:org"}, []string{"GET /orgs/{org}/members?filter=2fa_disabled"}},
	{kindMembersInsecure2FA, "Organisation members whose 2FA method GitHub counts as insecure", "org",
		[]string{"members:read", "organization_administration:read"}, []string{"read:org"}, []string{"GET /orgs/{org}/members?filter=2fa_insecure"}},
	{kindOwners, "Organisation owners", "org",
		[]string{"members:read"}, []string{"read:org"}, []string{"GET /orgs/{org}/members?role=admin"}},
	{kindOutsideCollabs, "Outside collaborators of the organisation", "org",
		[]string{"members:read"}, []string{"read:org"}, []string{"GET /orgs/{org}/outside_collaborators"}},
	{kindActionsPermissions, "GitHub Actions policy: enabled repositories and allowed actions", "org",
		[]string{"organization_administration:read"}, []string{"admin:org"}, []string{"GET /orgs/{org}/actions/permissions", "GET /orgs/{org}/actions/permissions/selected-actions"}},
	{kindWorkflowPermissions, "GitHub Actions default GITHUB_TOKEN permissions and PR approval by Actions", "org",
		[]string{"organization_administration:read"}, []string{"admin:org"}, []string{"GET /orgs/{org}/actions/permissions/workflow"}},
	{kindWebhooks, "Organisation webhooks: secret and TLS verification", "org",
		[]string{"organization_hooks:read"}, []string{"admin:org_hook"}, []string{"GET /orgs/{org}/hooks"}},
	{kindAuditLog, "Organisation audit log (latest events; GitHub Enterprise Cloud)", "org",
		[]string{"organization_administration:read"}, []string{"read:audit_log"}, []string{"GET /orgs/{org}/audit-log"}},
	{kindRepositories, "Repository inventory: visibility, archived, last push, scope", "org",
		[]string{"metadata:read"}, []string{"repo"}, []string{"GET /orgs/{org}/repos"}},
	{kindDependabotAlerts, "Open Dependabot alerts with severity and age", "org",
		[]string{"vulnerability_alerts:read"}, []string{"security_events"}, []string{"GET /orgs/{org}/dependabot/alerts?state=open"}},
	{kindCodeScanningAlerts, "Open code scanning alerts with severity and age", "org",
		[]string{"security_events:read"}, []string{"security_events"}, []string{"GET /orgs/{org}/code-scanning/alerts?state=open"}},
	{kindSecretScanAlerts, "Open secret scanning alerts with age (secrets hidden)", "org",
		[]string{"secret_scanning_alerts:read"}, []string{"security_events"}, []string{"GET /orgs/{org}/secret-scanning/alerts?state=open&hide_secret=true"}},
	{kindSecurityAnalysis, "Repository security features: secret scanning, push protection, Advanced Security", "repo",
		[]string{"administration:read", "metadata:read"}, []string{"repo"}, []string{"GET /orgs/{org}/repos (security_and_analysis)"}},
	{kindBranchProtection, "Classic branch protection of the default branch (404 \"Branch not protected\" = unprotected)", "repo",
		[]string{"administration:read"}, []string{"repo"}, []string{"GET /repos/{owner}/{repo}/branches/{branch}/protection", "GET /repos/{owner}/{repo}/branches/{branch}/protection/required_signatures"}},
	{kindRulesets, "Repository rulesets (own and inherited) and the rules GitHub applies to the default branch", "repo",
		[]string{"metadata:read"}, []string{"repo"}, []string{"GET /repos/{owner}/{repo}/rulesets?includes_parents=true", "GET /repos/{owner}/{repo}/rules/branches/{branch}", "GET /repos/{owner}/{repo}/rulesets/{ruleset_id}?includes_parents=true"}},
	{kindEffectiveProtection, "Effective default-branch protection: classic protection and active rulesets combined, bypass considered, CODEOWNERS where code-owner review is required", "repo",
		[]string{"administration:read", "metadata:read", "contents:read"}, []string{"repo"}, []string{"GET /repos/{owner}/{repo}/contents/{path} (.github/CODEOWNERS, CODEOWNERS, docs/CODEOWNERS)"}},
	{kindCollaborators, "Repository collaborators and their roles", "repo",
		[]string{"metadata:read", "members:read"}, []string{"read:org", "repo"}, []string{"GET /repos/{owner}/{repo}/collaborators?affiliation=all"}},
	{kindVulnAlerts, "Dependabot alerts enabled (204) or disabled (404)", "repo",
		[]string{"administration:read"}, []string{"repo"}, []string{"GET /repos/{owner}/{repo}/vulnerability-alerts"}},
	{kindSecurityPolicy, "SECURITY.md present (repository or organisation default)", "repo",
		[]string{"contents:read"}, []string{"repo"}, []string{"GET /repos/{owner}/{repo}/contents/{path} (SECURITY.md, .github/SECURITY.md, docs/SECURITY.md)"}},
	{kindRateLimit, "Remaining API quota at the end of collection", "instance",
		nil, nil, []string{"GET /rate_limit (free)"}},
}

// Kinds implements connector.Factory.
func (*Factory) Kinds() []connector.Kind {
	out := make([]connector.Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, connector.Kind{Name: k.Name, Title: k.Title, Scope: k.Scope})
	}
	return out
}

// Permissions implements connector.Factory: one GitHub App permission per entry, with the
// kinds that need it, sorted by name.
func (*Factory) Permissions() []connector.Permission {
	byName := map[string][]string{}
	for _, k := range kinds {
		for _, p := range k.Permissions {
			byName[p] = append(byName[p], k.Name)
		}
	}
	out := make([]connector.Permission, 0, len(byName))
	for name, ks := range byName {
		out = append(out, connector.Permission{System: "github-app", Name: name, Kinds: ks})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// New implements connector.Factory. It validates the settings; secrets are resolved and
// credentials checked when Collect runs, so a rotated key is picked up by the next run.
func (f *Factory) New(settings connector.Settings, opts connector.Options) (connector.Connector, error) {
	cfg, err := parseSettings(settings)
	if err != nil {
		return nil, err
	}
	return newConnector(cfg, opts, f.sleep), nil
}
