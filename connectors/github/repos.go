package github

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// repoEntry is one repository of the github.org.repositories inventory.
type repoEntry struct {
	Name          string   `json:"name"`
	FullName      string   `json:"full_name"`
	Visibility    string   `json:"visibility"`
	Archived      bool     `json:"archived"`
	Fork          bool     `json:"fork"`
	DefaultBranch string   `json:"default_branch"`
	PushedAt      string   `json:"pushed_at"`
	Topics        []string `json:"topics"`
	// InScope says whether the repository filter selects it; ExcludedBy names the setting
	// that left it out, so an auditor sees what was not collected and why.
	InScope    bool   `json:"in_scope"`
	ExcludedBy string `json:"excluded_by,omitempty"`
	// Collected is true when the repository was collected in depth (in scope, not archived).
	Collected bool `json:"collected"`
}

// repoScope is the set of in-scope repositories by full name; nil means unknown (the
// listing failed), in which case organisation alerts are not filtered.
type repoScope map[string]bool

// listRepos pages through the organisation's repositories, submits a task per in-scope,
// unarchived repository as soon as its page arrives, and then the inventory artefact.
// It returns false if the run was cancelled.
func (col *collector) listRepos(ctx context.Context, org string, owners *ownerSet, submit func(task) bool) (repoScope, bool) {
	subject := orgSubject(org)
	guard := connector.NewPageGuard(col.limits)
	opt := &gh.RepositoryListByOrgOptions{Type: "all", Sort: "full_name", Direction: "asc", ListOptions: gh.ListOptions{PerPage: col.cfg.PerPage}}
	var entries []repoEntry
	var all []evidence.Exchange
	scope := repoScope{}
	for {
		if err := guard.Next(strconv.Itoa(opt.Page)); err != nil {
			return nil, col.listingFailed(org, fmt.Errorf("could not list the repositories of %s: %w", org, err), all, submit)
		}
		pctx, rec := connector.Record(ctx)
		repos, resp, err := col.gh.Repositories.ListByOrg(pctx, org, opt)
		ex := rec.Exchanges()
		all = append(all, ex...)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false
			}
			return nil, col.listingFailed(org, fmt.Errorf("could not list the repositories of %s (page %d): %w", org, max(opt.Page, 1), err), all, submit)
		}
		for _, r := range repos {
			e := repoEntry{
				Name: r.GetName(), FullName: r.GetFullName(), Visibility: visibility(r), Archived: r.GetArchived(),
				Fork: r.GetFork(), DefaultBranch: r.GetDefaultBranch(), PushedAt: ts(r.PushedAt), Topics: append([]string{}, r.Topics...),
			}
			sort.Strings(e.Topics)
			e.InScope, e.ExcludedBy = col.cfg.Repositories.selects(e.Name, e.Visibility, e.Topics)
			e.Collected = e.InScope && !e.Archived
			entries = append(entries, e)
			if e.InScope {
				scope[e.FullName] = true
			}
			if e.Collected && !submit(col.repoTask(org, r, ex, owners)) {
				return nil, false
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	inv := document(kindRepositories, subject, struct {
		Organization string      `json:"organization"`
		Repositories []repoEntry `json:"repositories"`
		Count        int         `json:"count"`
		InScope      int         `json:"in_scope"`
	}{org, entries, len(entries), len(scope)}, all)
	return scope, submit(artefactTask(inv))
}

// repoKinds are the kinds collected per repository.
var repoKinds = []string{kindSecurityAnalysis, kindBranchProtection, kindRulesets, kindEffectiveProtection,
	kindCollaborators, kindVulnAlerts, kindSecurityPolicy}

// listingFailed submits the inventory gap and, because the repositories not yet listed are
// unknown, a gap at the organisation for every per-repository kind, so their rules show
// no evidence instead of disappearing. It returns false if the run was cancelled.
func (col *collector) listingFailed(org string, err error, exchanges []evidence.Exchange, submit func(task) bool) bool {
	subject := orgSubject(org)
	if !submit(artefactTask(gap(kindRepositories, subject, err, exchanges))) {
		return false
	}
	for _, k := range repoKinds {
		if k == kindSecurityPolicy && col.cfg.SecurityPolicy == "none" {
			continue
		}
		g := gapWith(k, subject, statusOf(err), fmt.Errorf("repositories not listed, so not collected: %w", err), nil)
		if !submit(artefactTask(g)) {
			return false
		}
	}
	return true
}

// artefactTask wraps an artefact that is already complete, so it is emitted in order.
func artefactTask(a evidence.Artefact) task {
	return task{a.Kind, a.Subject, func(context.Context) []evidence.Artefact { return one(a) }}
}

func visibility(r *gh.Repository) string {
	if v := r.GetVisibility(); v != "" {
		return v
	}
	if r.GetPrivate() {
		return "private"
	}
	return "public"
}

// repoTask collects one repository in depth. pageEx are the exchanges of the listing page
// the repository came from (its security settings are read from there, not fetched again).
func (col *collector) repoTask(org string, r *gh.Repository, pageEx []evidence.Exchange, owners *ownerSet) task {
	subject := repoSubject(r.GetFullName())
	return task{kindEffectiveProtection, subject, func(ctx context.Context) []evidence.Artefact {
		owner, name := r.GetOwner().GetLogin(), r.GetName()
		if owner == "" {
			owner = org
		}
		out := []evidence.Artefact{col.securityAnalysis(r, pageEx)}
		out = append(out, col.protection(ctx, owner, name, r.GetDefaultBranch())...)
		out = append(out, col.collaborators(ctx, owner, name, owners))
		// The listing says whether these credentials are admin of the repository.
		notAdmin := r.Permissions != nil && !r.Permissions["admin"]
		out = append(out, col.vulnerabilityAlerts(ctx, owner, name, notAdmin))
		if p := col.cfg.SecurityPolicy; p == "all" || p == "public" && visibility(r) == "public" {
			out = append(out, col.securityPolicy(ctx, org, owner, name, visibility(r)))
		}
		return out
	}}
}

// securityAnalysisDoc is github.repo.security_analysis: the status ("enabled", "disabled")
// of each security feature, null when GitHub did not report it.
type securityAnalysisDoc struct {
	Repository                   string  `json:"repository"`
	Visibility                   string  `json:"visibility"`
	AdvancedSecurity             *string `json:"advanced_security"`
	SecretScanning               *string `json:"secret_scanning"`
	SecretScanningPushProtection *string `json:"secret_scanning_push_protection"`
	SecretScanningValidityChecks *string `json:"secret_scanning_validity_checks"`
	DependabotSecurityUpdates    *string `json:"dependabot_security_updates"`
}

// securityAnalysis derives github.repo.security_analysis from the listing: GitHub includes
// security_and_analysis there for callers with admin rights, so no extra call is needed.
func (col *collector) securityAnalysis(r *gh.Repository, pageEx []evidence.Exchange) evidence.Artefact {
	subject := repoSubject(r.GetFullName())
	sa := r.SecurityAndAnalysis
	if sa == nil {
		return gapWith(kindSecurityAnalysis, subject, evidence.StatusForbidden, fmt.Errorf(
			"GitHub did not include security_and_analysis for %s: it is shown to repository admins only (GitHub App permission administration:read)",
			r.GetFullName()), pageEx)
	}
	d := securityAnalysisDoc{Repository: r.GetFullName(), Visibility: visibility(r)}
	if sa.AdvancedSecurity != nil {
		d.AdvancedSecurity = sa.AdvancedSecurity.Status
	}
	if sa.SecretScanning != nil {
		d.SecretScanning = sa.SecretScanning.Status
	}
	if sa.SecretScanningPushProtection != nil {
		d.SecretScanningPushProtection = sa.SecretScanningPushProtection.Status
	}
	if sa.SecretScanningValidityChecks != nil {
		d.SecretScanningValidityChecks = sa.SecretScanningValidityChecks.Status
	}
	if sa.DependabotSecurityUpdates != nil {
		d.DependabotSecurityUpdates = sa.DependabotSecurityUpdates.Status
	}
	return document(kindSecurityAnalysis, subject, d, pageEx)
}
