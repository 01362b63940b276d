package github

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// The states of a protection source in the effective document.
const (
	stateEnabled      = "enabled"       // classic protection exists
	stateAbsent       = "absent"        // 404: the branch is not protected classically
	stateOK           = "ok"            // the ruleset listing was read
	stateNotAvailable = "not_available" // the plan or server version has no such feature
)

// classicDoc is github.repo.branch_protection: GitHub's branch protection with the
// {"enabled": bool} wrappers flattened and users/teams/apps reduced to their names. A 404
// ("Branch not protected") is evidence too: protected false, with GitHub's message.
type classicDoc struct {
	Repository                     string             `json:"repository"`
	Branch                         string             `json:"branch"`
	Protected                      bool               `json:"protected"`
	Reason                         string             `json:"reason,omitempty"`
	RequiredPullRequestReviews     *classicReviewsDoc `json:"required_pull_request_reviews"`
	RequiredStatusChecks           *classicChecksDoc  `json:"required_status_checks"`
	EnforceAdmins                  bool               `json:"enforce_admins"`
	AllowForcePushes               bool               `json:"allow_force_pushes"`
	AllowDeletions                 bool               `json:"allow_deletions"`
	RequiredSignatures             bool               `json:"required_signatures"`
	RequiredLinearHistory          bool               `json:"required_linear_history"`
	RequiredConversationResolution bool               `json:"required_conversation_resolution"`
	LockBranch                     bool               `json:"lock_branch"`
	Restrictions                   *actorsDoc         `json:"restrictions"`
}

type classicReviewsDoc struct {
	RequiredApprovingReviewCount int        `json:"required_approving_review_count"`
	DismissStaleReviews          bool       `json:"dismiss_stale_reviews"`
	RequireCodeOwnerReviews      bool       `json:"require_code_owner_reviews"`
	RequireLastPushApproval      bool       `json:"require_last_push_approval"`
	BypassPullRequestAllowances  *actorsDoc `json:"bypass_pull_request_allowances"`
}

type classicChecksDoc struct {
	Strict *bool `json:"strict"` // null: GitHub did not say

	Contexts []string `json:"contexts"`
}

type actorsDoc struct {
	Users []string `json:"users"`
	Teams []string `json:"teams"`
	Apps  []string `json:"apps"`
}

func (a *actorsDoc) empty() bool { return a == nil || len(a.Users)+len(a.Teams)+len(a.Apps) == 0 }

// ruleset is a repository ruleset as GitHub returns it. It is decoded here rather than
// through gh.Ruleset because go-github v60 fails on rule types it does not know
// (merge_queue and newer; google/go-github#3098), which would lose the whole ruleset.
// BypassActors is nil when GitHub did not say (the caller may not see them).
type ruleset struct {
	ID                   int64              `json:"id"`
	Name                 string             `json:"name"`
	Target               string             `json:"target,omitempty"`
	SourceType           string             `json:"source_type,omitempty"`
	Source               string             `json:"source,omitempty"`
	Enforcement          string             `json:"enforcement"`
	BypassActors         *[]bypassActor     `json:"bypass_actors,omitempty"`
	CurrentUserCanBypass string             `json:"current_user_can_bypass,omitempty"`
	Conditions           *rulesetConditions `json:"conditions,omitempty"`
	Rules                []rulesetRule      `json:"rules,omitempty"`
}

type bypassActor struct {
	ActorID    *int64 `json:"actor_id"`
	ActorType  string `json:"actor_type"`
	BypassMode string `json:"bypass_mode"`
}

type rulesetConditions struct {
	RefName *struct {
		Include []string `json:"include"`
		Exclude []string `json:"exclude"`
	} `json:"ref_name,omitempty"`
	RepositoryName     json.RawMessage `json:"repository_name,omitempty"`
	RepositoryID       json.RawMessage `json:"repository_id,omitempty"`
	RepositoryProperty json.RawMessage `json:"repository_property,omitempty"`
}

type rulesetRule struct {
	Type       string          `json:"type"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// needsDetail says whether a listed ruleset can affect the default branch, so its rules and
// bypass actors must be fetched. Rulesets in evaluate or disabled mode enforce nothing.
func (r *ruleset) needsDetail() bool {
	return r.Enforcement == "active" && (r.Target == "" || r.Target == "branch")
}

// shared reports whether the ruleset is defined above the repository (organisation or
// enterprise), so its detail is fetched once per run for every repository.
func (r *ruleset) shared() bool { return r.SourceType != "" && r.SourceType != "Repository" }

// classicResult is the outcome of reading classic protection.
type classicResult struct {
	state       string
	prot        *gh.Protection
	strictKnown bool
	artefact    evidence.Artefact
	exchanges   []evidence.Exchange
	err         error
}

// rulesetsResult is the outcome of reading the rulesets: the listing, GitHub's rules for
// the default branch (nil where the endpoint does not exist), and the detail of every
// ruleset that applies (or, without the endpoint, may apply).
type rulesetsResult struct {
	state         string
	listed        []*ruleset
	branchRules   []branchRule
	details       map[int64]*ruleset
	effectiveFrom string
	artefact      evidence.Artefact
	exchanges     []evidence.Exchange
	err           error
}

// Where the effective rules come from.
const (
	fromGitHub     = "github_branch_rules" // GET /repos/{owner}/{repo}/rules/branches/{branch}
	fromConditions = "matched_conditions"  // our matching of ruleset conditions (fallback)
)

// branchRule is one rule of GET /repos/{owner}/{repo}/rules/branches/{branch}.
type branchRule struct {
	Type              string          `json:"type"`
	Parameters        json.RawMessage `json:"parameters,omitempty"`
	RulesetSourceType string          `json:"ruleset_source_type"`
	RulesetSource     string          `json:"ruleset_source"`
	RulesetID         int64           `json:"ruleset_id"`
}

// documentedEnforcement are the enforcement values GitHub's description allows.
var documentedEnforcement = map[string]bool{"disabled": true, "active": true, "evaluate": true}

// protection collects github.repo.branch_protection, github.repo.rulesets and the
// github.repo.default_branch_protection derived from both.
func (col *collector) protection(ctx context.Context, owner, repo, branch string) []evidence.Artefact {
	full := owner + "/" + repo
	subject := repoSubject(full)
	if branch == "" {
		err := fmt.Errorf("%s has no default branch (empty repository)", full)
		return []evidence.Artefact{
			gapWith(kindBranchProtection, subject, evidence.StatusFailed, err, nil),
			gapWith(kindRulesets, subject, evidence.StatusFailed, err, nil),
			gapWith(kindEffectiveProtection, subject, evidence.StatusFailed, err, nil),
		}
	}
	c := col.classicProtection(ctx, owner, repo, branch)
	r := col.repoRulesets(ctx, owner, repo, branch)
	return []evidence.Artefact{c.artefact, r.artefact, col.effectiveArtefact(ctx, owner, repo, branch, c, r)}
}

// classicProtection reads the default branch's classic protection. GitHub's 404 "Branch
// not protected" means unprotected (evidence); any other 404 (a branch or repository GitHub
// does not find for this caller) is a gap, as is a plan without branch protection for
// private repositories ("Upgrade to GitHub Pro": not_available).
func (col *collector) classicProtection(ctx context.Context, owner, repo, branch string) classicResult {
	full := owner + "/" + repo
	subject := repoSubject(full)
	ctx, rec := connector.Record(ctx)
	var raw json.RawMessage
	base := fmt.Sprintf("repos/%s/%s/branches/%s/protection", url.PathEscape(owner), url.PathEscape(repo), url.PathEscape(branch))
	_, err := col.getJSON(ctx, base, &raw)
	var prot *gh.Protection
	strictKnown := true
	if err == nil {
		prot, strictKnown, err = decodeProtection(raw)
	}
	if err == nil && prot.RequiredSignatures == nil {
		// Older servers leave required_signatures out of the protection; ask for it.
		sig, _, serr := col.gh.Repositories.GetSignaturesProtectedBranch(ctx, owner, repo, branch)
		if serr != nil && !isNotFound(serr) {
			err = serr
		} else if sig != nil {
			prot.RequiredSignatures = sig
		}
	}
	ex := rec.Exchanges()
	doc := classicDoc{Repository: full, Branch: branch}
	switch {
	case err == nil:
		fillClassic(&doc, prot, strictKnown)
		return classicResult{state: stateEnabled, prot: prot, strictKnown: strictKnown, artefact: document(kindBranchProtection, subject, doc, ex), exchanges: ex}
	case isNotFound(err) && errorMessage(err) == branchNotProtected:
		doc.Reason = branchNotProtected
		return classicResult{state: stateAbsent, artefact: document(kindBranchProtection, subject, doc, ex), exchanges: ex}
	default:
		if isNotFound(err) {
			err = fmt.Errorf("GitHub answered 404 %q, not the documented %q: the branch or repository is not visible to these credentials: %w",
				errorMessage(err), branchNotProtected, err)
		}
		err = fmt.Errorf("could not get the protection of %s branch %s: %w", full, branch, err)
		g := gap(kindBranchProtection, subject, err, ex)
		return classicResult{state: gapState(g), artefact: g, exchanges: ex, err: err}
	}
}

// gapState is the protection source state a gap means: not_available when the plan or
// server has no such feature, otherwise unknown ("").
func gapState(g evidence.Artefact) string {
	if g.Status == evidence.StatusNotAvailable {
		return stateNotAvailable
	}
	return ""
}

// branchNotProtected is the message of GitHub's documented 404 for an unprotected branch.
const branchNotProtected = "Branch not protected"

// decodeProtection decodes GitHub's branch protection, and whether required_status_checks
// (when present) says `strict`: GitHub's own example leaves it out, and a missing strict is
// unknown, not false.
func decodeProtection(raw json.RawMessage) (*gh.Protection, bool, error) {
	var p gh.Protection
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, false, fmt.Errorf("could not decode the branch protection: %w", err)
	}
	var presence struct {
		Checks *struct {
			Strict *bool `json:"strict"`
		} `json:"required_status_checks"`
	}
	json.Unmarshal(raw, &presence)
	return &p, presence.Checks == nil || presence.Checks.Strict != nil, nil
}

func fillClassic(d *classicDoc, p *gh.Protection, strictKnown bool) {
	d.Protected = true
	if r := p.RequiredPullRequestReviews; r != nil {
		d.RequiredPullRequestReviews = &classicReviewsDoc{
			RequiredApprovingReviewCount: r.RequiredApprovingReviewCount,
			DismissStaleReviews:          r.DismissStaleReviews,
			RequireCodeOwnerReviews:      r.RequireCodeOwnerReviews,
			RequireLastPushApproval:      r.RequireLastPushApproval,
		}
		if b := r.BypassPullRequestAllowances; b != nil {
			d.RequiredPullRequestReviews.BypassPullRequestAllowances = actorsOf(b.Users, b.Teams, b.Apps)
		}
	}
	if s := p.RequiredStatusChecks; s != nil {
		d.RequiredStatusChecks = &classicChecksDoc{Contexts: classicContexts(s)}
		if strictKnown {
			d.RequiredStatusChecks.Strict = ptr(s.Strict)
		}
	}
	d.EnforceAdmins = p.EnforceAdmins != nil && p.EnforceAdmins.Enabled
	d.AllowForcePushes = p.AllowForcePushes != nil && p.AllowForcePushes.Enabled
	d.AllowDeletions = p.AllowDeletions != nil && p.AllowDeletions.Enabled
	d.RequiredSignatures = p.RequiredSignatures != nil && p.RequiredSignatures.GetEnabled()
	d.RequiredLinearHistory = p.RequireLinearHistory != nil && p.RequireLinearHistory.Enabled
	d.RequiredConversationResolution = p.RequiredConversationResolution != nil && p.RequiredConversationResolution.Enabled
	d.LockBranch = p.LockBranch != nil && p.LockBranch.GetEnabled()
	if r := p.Restrictions; r != nil {
		d.Restrictions = actorsOf(r.Users, r.Teams, r.Apps)
	}
}

func classicContexts(s *gh.RequiredStatusChecks) []string {
	set := map[string]bool{}
	if s.Contexts != nil {
		for _, c := range *s.Contexts {
			set[c] = true
		}
	}
	if s.Checks != nil {
		for _, c := range *s.Checks {
			set[c.Context] = true
		}
	}
	return sortedKeys(set)
}

func actorsOf(users []*gh.User, teams []*gh.Team, apps []*gh.App) *actorsDoc {
	a := &actorsDoc{Users: []string{}, Teams: []string{}, Apps: []string{}}
	for _, u := range users {
		a.Users = append(a.Users, u.GetLogin())
	}
	for _, t := range teams {
		a.Teams = append(a.Teams, t.GetSlug())
	}
	for _, ap := range apps {
		a.Apps = append(a.Apps, ap.GetSlug())
	}
	sort.Strings(a.Users)
	sort.Strings(a.Teams)
	sort.Strings(a.Apps)
	return a
}

// repoRulesets lists the rulesets that apply to the repository (its own and, through
// includes_parents, the organisation's), asks GitHub which rules apply to the default
// branch (GET .../rules/branches/{branch}: all active rules, whatever their level), and
// fetches the ruleset behind each of them for its name and bypass actors. Organisation
// rulesets are fetched once per run. Where the branch rules endpoint does not exist (older
// GitHub Enterprise Server), the rulesets whose conditions select the branch are matched
// here instead (effective.go), and the document says so.
func (col *collector) repoRulesets(ctx context.Context, owner, repo, branch string) rulesetsResult {
	full := owner + "/" + repo
	subject := repoSubject(full)
	base := fmt.Sprintf("repos/%s/%s/rulesets", url.PathEscape(owner), url.PathEscape(repo))
	list, ex, err := listPages(ctx, col, func(ctx context.Context, page int) ([]*ruleset, *gh.Response, error) {
		return getPage[*ruleset](ctx, col, base+"?includes_parents=true", page)
	})
	if err != nil {
		if isNotFound(err) {
			// GitHub Enterprise Server before 3.11 has no rulesets.
			err = fmt.Errorf("rulesets are not available for %s on this GitHub version: %w", full, err)
			return rulesetsResult{state: stateNotAvailable, artefact: gapWith(kindRulesets, subject, evidence.StatusNotAvailable, err, ex), exchanges: ex, err: err}
		}
		err = fmt.Errorf("could not list the rulesets of %s: %w", full, err)
		g := gap(kindRulesets, subject, err, ex)
		return rulesetsResult{state: gapState(g), artefact: g, exchanges: ex, err: err}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	res := rulesetsResult{state: stateOK, listed: list, effectiveFrom: fromGitHub}
	rulesPath := fmt.Sprintf("repos/%s/%s/rules/branches/%s", url.PathEscape(owner), url.PathEscape(repo), url.PathEscape(branch))
	rules, rex, err := listPages(ctx, col, func(ctx context.Context, page int) ([]branchRule, *gh.Response, error) {
		return getPage[branchRule](ctx, col, rulesPath, page)
	})
	ex = append(ex, rex...)
	var want []*ruleset // the rulesets whose detail is needed
	switch {
	case err == nil:
		res.branchRules = rules
		seen := map[int64]bool{}
		for _, r := range rules {
			if !seen[r.RulesetID] {
				seen[r.RulesetID] = true
				want = append(want, rulesetRef(list, r))
			}
		}
	case isNotFound(err):
		res.effectiveFrom = fromConditions
		for _, r := range list {
			if r.needsDetail() {
				want = append(want, r)
			}
		}
	default:
		err = fmt.Errorf("could not get the rules that apply to %s branch %s: %w", full, branch, err)
		return rulesetsResult{artefact: gap(kindRulesets, subject, err, ex), exchanges: ex, err: err}
	}
	details := map[int64]*ruleset{}
	for _, r := range want {
		fetch := func(ctx context.Context) (*ruleset, []evidence.Exchange, error) {
			ctx, rec := connector.Record(ctx)
			var d ruleset
			_, err := col.getJSON(ctx, fmt.Sprintf("%s/%d?includes_parents=true", base, r.ID), &d)
			if err == nil && d.ID != r.ID {
				err = fmt.Errorf("GitHub answered ruleset %d when asked for ruleset %d", d.ID, r.ID)
			}
			return &d, rec.Exchanges(), err
		}
		var d *ruleset
		var dex []evidence.Exchange
		if r.shared() {
			d, dex, err = col.rulesets.get(ctx, fmt.Sprintf("%s/%s/%d", r.SourceType, r.Source, r.ID), fetch)
		} else {
			d, dex, err = fetch(ctx)
		}
		ex = append(ex, dex...)
		if err != nil {
			err = fmt.Errorf("could not get ruleset %d (%s) of %s: %w", r.ID, r.Name, full, err)
			return rulesetsResult{artefact: gap(kindRulesets, subject, err, ex), exchanges: ex, err: err}
		}
		details[r.ID] = d
	}
	res.details = details
	out := make([]*ruleset, 0, len(list))
	for _, r := range list {
		if d, ok := details[r.ID]; ok {
			out = append(out, d)
		} else {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	doc := struct {
		Repository string     `json:"repository"`
		Rulesets   []*ruleset `json:"rulesets"`
	}{full, out}
	res.artefact, res.exchanges = document(kindRulesets, subject, doc, ex), ex
	return res
}

// rulesetRef returns the listed ruleset a branch rule comes from, or a reference built from
// the rule (a ruleset the listing did not show).
func rulesetRef(list []*ruleset, r branchRule) *ruleset {
	for _, rs := range list {
		if rs.ID == r.RulesetID {
			return rs
		}
	}
	return &ruleset{ID: r.RulesetID, SourceType: r.RulesetSourceType, Source: r.RulesetSource}
}

// getPage GETs one page of a listing below the API root.
func getPage[T any](ctx context.Context, col *collector, path string, page int) ([]T, *gh.Response, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	u := fmt.Sprintf("%s%sper_page=%d", path, sep, col.cfg.PerPage)
	if page > 0 {
		u += "&page=" + strconv.Itoa(page)
	}
	var out []T
	resp, err := col.getJSON(ctx, u, &out)
	return out, resp, err
}

// getJSON GETs a path relative to the API root through go-github into v.
func (col *collector) getJSON(ctx context.Context, path string, v any) (*gh.Response, error) {
	req, err := col.gh.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return col.gh.Do(ctx, req, v)
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
