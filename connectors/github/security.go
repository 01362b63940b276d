package github

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// vulnerabilityAlerts collects github.repo.vulnerability_alerts: GitHub answers 204 when
// Dependabot alerts are enabled and 404 when they are not (both evidence). The endpoint
// needs admin read access to the repository, and a caller without it gets the same 404: so
// where the listing says these credentials are not admin of the repository, a 404 is a
// forbidden gap, not "disabled".
func (col *collector) vulnerabilityAlerts(ctx context.Context, owner, repo string, notAdmin bool) evidence.Artefact {
	full := owner + "/" + repo
	subject := repoSubject(full)
	ctx, rec := connector.Record(ctx)
	enabled, _, err := col.gh.Repositories.GetVulnerabilityAlerts(ctx, owner, repo)
	if err != nil {
		return gap(kindVulnAlerts, subject, fmt.Errorf("could not check Dependabot alerts of %s: %w", full, err), rec.Exchanges())
	}
	if !enabled && notAdmin {
		return gapWith(kindVulnAlerts, subject, evidence.StatusForbidden, fmt.Errorf(
			"GitHub answered 404 for the Dependabot alerts of %s, which it also answers to callers without admin read access, and the listing says these credentials are not admin of it: enabled or not is unknown", full), rec.Exchanges())
	}
	return document(kindVulnAlerts, subject, struct {
		Repository string `json:"repository"`
		Enabled    bool   `json:"enabled"`
	}{full, enabled}, rec.Exchanges())
}

// securityPolicyPaths are where GitHub looks for a repository's security policy.
var securityPolicyPaths = []string{"SECURITY.md", ".github/SECURITY.md", "docs/SECURITY.md"}

// securityPolicy collects github.repo.security_policy: the repository's own SECURITY.md,
// or else the organisation default in its .github repository (which GitHub shows for
// every repository without its own).
func (col *collector) securityPolicy(ctx context.Context, org, owner, repo, vis string) evidence.Artefact {
	full := owner + "/" + repo
	subject := repoSubject(full)
	path, ex, err := col.findFile(ctx, owner, repo, securityPolicyPaths)
	if err != nil {
		return gap(kindSecurityPolicy, subject, fmt.Errorf("could not look for SECURITY.md in %s: %w", full, err), ex)
	}
	source := ""
	if path != "" {
		source = "repository"
	} else if repo != ".github" {
		dpath, dex, err := col.policies.get(ctx, org, func(ctx context.Context) (string, []evidence.Exchange, error) {
			return col.findFile(ctx, org, ".github", securityPolicyPaths)
		})
		ex = append(ex, dex...)
		if err != nil && !isNotFound(err) {
			return gap(kindSecurityPolicy, subject, fmt.Errorf("could not look for the organisation's default SECURITY.md: %w", err), ex)
		}
		if dpath != "" {
			path, source = org+"/.github/"+dpath, "organization_default"
		}
	}
	return document(kindSecurityPolicy, subject, struct {
		Repository string `json:"repository"`
		Visibility string `json:"visibility"`
		Present    bool   `json:"present"`
		Path       string `json:"path"`
		Source     string `json:"source"`
	}{full, vis, path != "", path, source}, ex)
}

// findFile returns the first of paths that exists in the repository, or "".
func (col *collector) findFile(ctx context.Context, owner, repo string, paths []string) (string, []evidence.Exchange, error) {
	ctx, rec := connector.Record(ctx)
	for _, p := range paths {
		_, _, _, err := col.gh.Repositories.GetContents(ctx, owner, repo, p, nil)
		if err == nil {
			return p, rec.Exchanges(), nil
		}
		if !isNotFound(err) {
			return "", rec.Exchanges(), err
		}
	}
	return "", rec.Exchanges(), nil
}

// alertTasks collect the organisation's open Dependabot, code scanning and secret scanning
// alerts, restricted to the repositories in scope.
func (col *collector) alertTasks(org string, scope repoScope) []task {
	s := orgSubject(org)
	return []task{
		{kindDependabotAlerts, s, func(ctx context.Context) []evidence.Artefact { return one(col.dependabotAlerts(ctx, org, scope)) }},
		{kindCodeScanningAlerts, s, func(ctx context.Context) []evidence.Artefact { return one(col.codeScanningAlerts(ctx, org, scope)) }},
		{kindSecretScanAlerts, s, func(ctx context.Context) []evidence.Artefact { return one(col.secretScanningAlerts(ctx, org, scope)) }},
	}
}

// alertDoc is one open alert. Its age is not stored (documents must not change while the
// evidence does not); rules compute it from created_at and the evaluation time.
type alertDoc struct {
	Repository string `json:"repository"`
	Number     int    `json:"number"`
	Severity   string `json:"severity"`
	CreatedAt  string `json:"created_at"`
	HTMLURL    string `json:"html_url"`
	// Dependabot
	Package      string `json:"package,omitempty"`
	Ecosystem    string `json:"ecosystem,omitempty"`
	ManifestPath string `json:"manifest_path,omitempty"`
	Advisory     string `json:"advisory,omitempty"`
	CVE          string `json:"cve,omitempty"`
	Summary      string `json:"summary,omitempty"`
	// Code scanning
	Rule string `json:"rule,omitempty"`
	Tool string `json:"tool,omitempty"`
	// Secret scanning (the secret itself is never requested: hide_secret=true)
	SecretType             string `json:"secret_type,omitempty"`
	PushProtectionBypassed *bool  `json:"push_protection_bypassed,omitempty"`
}

// alertsDoc is the document of the three alert kinds.
type alertsDoc struct {
	Organization string     `json:"organization"`
	Alerts       []alertDoc `json:"alerts"`
	Count        int        `json:"count"`
	// OutOfScope counts open alerts of repositories the filter leaves out; ScopeApplied is
	// false when the repository listing failed and nothing could be left out.
	OutOfScope   int  `json:"out_of_scope"`
	ScopeApplied bool `json:"scope_applied"`
}

func newAlertsDoc(org string, scope repoScope, alerts []alertDoc) alertsDoc {
	d := alertsDoc{Organization: org, Alerts: []alertDoc{}, ScopeApplied: scope != nil}
	for _, a := range alerts {
		if scope != nil && !scope[a.Repository] {
			d.OutOfScope++
			continue
		}
		d.Alerts = append(d.Alerts, a)
	}
	sort.Slice(d.Alerts, func(i, j int) bool {
		if d.Alerts[i].Repository != d.Alerts[j].Repository {
			return d.Alerts[i].Repository < d.Alerts[j].Repository
		}
		return d.Alerts[i].Number < d.Alerts[j].Number
	})
	d.Count = len(d.Alerts)
	return d
}

// dependabotAlerts collects github.org.dependabot_alerts (cursor pagination).
func (col *collector) dependabotAlerts(ctx context.Context, org string, scope repoScope) evidence.Artefact {
	subject := orgSubject(org)
	alerts, ex, err := listCursor(ctx, col, func(ctx context.Context, after string) ([]*gh.DependabotAlert, *gh.Response, error) {
		opt := &gh.ListAlertsOptions{State: ptr("open")}
		opt.ListCursorOptions.PerPage = col.cfg.PerPage
		opt.ListCursorOptions.After = after
		return col.gh.Dependabot.ListOrgAlerts(ctx, org, opt)
	})
	if err != nil {
		return gap(kindDependabotAlerts, subject, fmt.Errorf("could not list the Dependabot alerts of %s: %w", org, err), ex)
	}
	docs := make([]alertDoc, 0, len(alerts))
	for _, a := range alerts {
		d := alertDoc{Repository: a.GetRepository().GetFullName(), Number: a.GetNumber(), CreatedAt: ts(a.CreatedAt), HTMLURL: a.GetHTMLURL()}
		if dep := a.Dependency; dep != nil {
			d.Package, d.Ecosystem, d.ManifestPath = dep.GetPackage().GetName(), dep.GetPackage().GetEcosystem(), dep.GetManifestPath()
		}
		if adv := a.SecurityAdvisory; adv != nil {
			d.Severity, d.Advisory, d.CVE, d.Summary = adv.GetSeverity(), adv.GetGHSAID(), adv.GetCVEID(), adv.GetSummary()
		}
		if d.Severity == "" && a.SecurityVulnerability != nil {
			d.Severity = a.SecurityVulnerability.GetSeverity()
		}
		docs = append(docs, d)
	}
	return document(kindDependabotAlerts, subject, newAlertsDoc(org, scope, docs), ex)
}

// codeScanningAlerts collects github.org.code_scanning_alerts. Without GitHub Advanced
// Security (Code Security) GitHub refuses with 403, which is a not_available gap.
func (col *collector) codeScanningAlerts(ctx context.Context, org string, scope repoScope) evidence.Artefact {
	subject := orgSubject(org)
	alerts, ex, err := listPages(ctx, col, func(ctx context.Context, page int) ([]*gh.Alert, *gh.Response, error) {
		return col.gh.CodeScanning.ListAlertsForOrg(ctx, org, &gh.AlertListOptions{State: "open", ListOptions: gh.ListOptions{Page: page, PerPage: col.cfg.PerPage}})
	})
	if err != nil {
		return gap(kindCodeScanningAlerts, subject, fmt.Errorf("could not list the code scanning alerts of %s: %w", org, err), ex)
	}
	docs := make([]alertDoc, 0, len(alerts))
	for _, a := range alerts {
		d := alertDoc{Repository: a.GetRepository().GetFullName(), Number: a.GetNumber(), CreatedAt: ts(a.CreatedAt), HTMLURL: a.GetHTMLURL(), Tool: a.GetTool().GetName()}
		if r := a.Rule; r != nil {
			d.Rule = r.GetID()
			d.Severity = r.GetSecuritySeverityLevel()
			if d.Severity == "" {
				d.Severity = r.GetSeverity()
			}
		}
		docs = append(docs, d)
	}
	return document(kindCodeScanningAlerts, subject, newAlertsDoc(org, scope, docs), ex)
}

// secretScanningAlerts collects github.org.secret_scanning_alerts with hide_secret=true,
// so the leaked secrets themselves never reach Exhibit (servers that predate the parameter
// ignore it; the capturing transport's redaction is the second line).
func (col *collector) secretScanningAlerts(ctx context.Context, org string, scope repoScope) evidence.Artefact {
	subject := orgSubject(org)
	alerts, ex, err := listPages(ctx, col, func(ctx context.Context, page int) ([]*gh.SecretScanningAlert, *gh.Response, error) {
		q := url.Values{"state": {"open"}, "hide_secret": {"true"}, "per_page": {strconv.Itoa(col.cfg.PerPage)}}
		if page > 0 {
			q.Set("page", strconv.Itoa(page))
		}
		var out []*gh.SecretScanningAlert
		resp, err := col.getJSON(ctx, "orgs/"+url.PathEscape(org)+"/secret-scanning/alerts?"+q.Encode(), &out)
		return out, resp, err
	})
	if err != nil {
		return gap(kindSecretScanAlerts, subject, fmt.Errorf("could not list the secret scanning alerts of %s: %w", org, err), ex)
	}
	docs := make([]alertDoc, 0, len(alerts))
	for _, a := range alerts {
		docs = append(docs, alertDoc{
			Repository: a.GetRepository().GetFullName(), Number: a.GetNumber(), CreatedAt: ts(a.CreatedAt), HTMLURL: a.GetHTMLURL(),
			Severity: "secret", SecretType: a.GetSecretType(), PushProtectionBypassed: a.PushProtectionBypassed,
		})
	}
	return document(kindSecretScanAlerts, subject, newAlertsDoc(org, scope, docs), ex)
}
