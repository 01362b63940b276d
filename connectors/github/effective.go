package github

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/evidence"
)

// branchRules is what protects a branch, whichever mechanism enforces it. Combining
// sources keeps the most restrictive value of each, as GitHub does when classic protection
// and rulesets both apply. StrictStatusChecks is null when a source with required checks
// did not say whether branches must be up to date.
type branchRules struct {
	RequirePullRequest            bool     `json:"require_pull_request"`
	RequiredApprovingReviewCount  int      `json:"required_approving_review_count"`
	RequireCodeOwnerReviews       bool     `json:"require_code_owner_reviews"`
	DismissStaleReviews           bool     `json:"dismiss_stale_reviews"`
	RequireLastPushApproval       bool     `json:"require_last_push_approval"`
	RequireConversationResolution bool     `json:"require_conversation_resolution"`
	RequiredStatusChecks          []string `json:"required_status_checks"`
	StrictStatusChecks            *bool    `json:"strict_status_checks"`
	BlockForcePushes              bool     `json:"block_force_pushes"`
	BlockDeletions                bool     `json:"block_deletions"`
	RequireSignedCommits          bool     `json:"require_signed_commits"`
	RequireLinearHistory          bool     `json:"require_linear_history"`
}

func newBranchRules() branchRules {
	return branchRules{RequiredStatusChecks: []string{}, StrictStatusChecks: ptr(false)}
}

// add merges o into b, keeping the stricter value of each rule.
func (b *branchRules) add(o branchRules) {
	b.RequirePullRequest = b.RequirePullRequest || o.RequirePullRequest
	b.RequiredApprovingReviewCount = max(b.RequiredApprovingReviewCount, o.RequiredApprovingReviewCount)
	b.RequireCodeOwnerReviews = b.RequireCodeOwnerReviews || o.RequireCodeOwnerReviews
	b.DismissStaleReviews = b.DismissStaleReviews || o.DismissStaleReviews
	b.RequireLastPushApproval = b.RequireLastPushApproval || o.RequireLastPushApproval
	b.RequireConversationResolution = b.RequireConversationResolution || o.RequireConversationResolution
	b.BlockForcePushes = b.BlockForcePushes || o.BlockForcePushes
	b.BlockDeletions = b.BlockDeletions || o.BlockDeletions
	b.RequireSignedCommits = b.RequireSignedCommits || o.RequireSignedCommits
	b.RequireLinearHistory = b.RequireLinearHistory || o.RequireLinearHistory
	switch isTrue := func(p *bool) bool { return p != nil && *p }; {
	case isTrue(b.StrictStatusChecks) || isTrue(o.StrictStatusChecks):
		b.StrictStatusChecks = ptr(true)
	case b.StrictStatusChecks == nil || o.StrictStatusChecks == nil:
		b.StrictStatusChecks = nil
	default:
		b.StrictStatusChecks = ptr(false)
	}
	set := map[string]bool{}
	for _, c := range append(b.RequiredStatusChecks, o.RequiredStatusChecks...) {
		set[c] = true
	}
	b.RequiredStatusChecks = sortedKeys(set)
}

// withoutPullRequestRules returns b without the rules a pull-request bypass skips.
func (b branchRules) withoutPullRequestRules() branchRules {
	b.RequirePullRequest, b.RequiredApprovingReviewCount = false, 0
	b.RequireCodeOwnerReviews, b.DismissStaleReviews, b.RequireLastPushApproval = false, false, false
	b.RequireConversationResolution = false
	return b
}

func (b branchRules) any() bool {
	return b.RequirePullRequest || len(b.RequiredStatusChecks) > 0 || b.BlockForcePushes || b.BlockDeletions ||
		b.RequireSignedCommits || b.RequireLinearHistory
}

// effectiveDoc is github.repo.default_branch_protection: what actually protects the
// default branch. GitHub applies classic protection and every active ruleset that targets
// the branch, the strictest value of each rule winning; which rulesets apply is GitHub's
// answer (GET .../rules/branches/{branch}, effective_rules_from "github_branch_rules"), or,
// on servers without that endpoint, our matching of the rulesets' conditions
// ("matched_conditions"). Rulesets that apply nothing are listed under ignored_rulesets with
// the reason. Anyone who can bypass a source escapes all of its rules, whatever their type:
// enforced_for_everyone holds only what no one can bypass, bypass_possible says whether any
// known actor can bypass anything, and bypass_not_visible says why some bypass lists are
// unknown (GitHub returns a ruleset's bypass_actors only to callers with write access to
// it). undocumented_values lists values GitHub returned outside its own description.
// codeowners says, where code-owner review is required, whether a CODEOWNERS file exists.
type effectiveDoc struct {
	Repository          string        `json:"repository"`
	DefaultBranch       string        `json:"default_branch"`
	Protected           bool          `json:"protected"`
	ClassicProtection   string        `json:"classic_protection"`
	Rulesets            string        `json:"rulesets"`
	EffectiveRulesFrom  string        `json:"effective_rules_from"`
	Sources             []sourceDoc   `json:"sources"`
	IgnoredRulesets     []ignoredDoc  `json:"ignored_rulesets"`
	Effective           branchRules   `json:"effective"`
	EnforcedForEveryone branchRules   `json:"enforced_for_everyone"`
	BypassActors        []bypassEntry `json:"bypass_actors"`
	BypassPossible      bool          `json:"bypass_possible"`
	BypassNotVisible    string        `json:"bypass_not_visible"`
	UndocumentedValues  []string      `json:"undocumented_values"`
	Codeowners          codeownersDoc `json:"codeowners"`
}

// codeownersDoc: Checked is false where no rule requires code-owner review; Present is null
// when the lookup failed (Error says why).
type codeownersDoc struct {
	Checked bool   `json:"checked"`
	Present *bool  `json:"present"`
	Path    string `json:"path"`
	Error   string `json:"error,omitempty"`
}

// sourceDoc is one source of protection that applies to the default branch. RuleTypes
// lists every rule type of the source, modelled in Rules or not.
type sourceDoc struct {
	Type       string      `json:"type"` // "classic" or "ruleset"
	RulesetID  int64       `json:"ruleset_id,omitempty"`
	Name       string      `json:"name,omitempty"`
	SourceType string      `json:"source_type,omitempty"`
	Source     string      `json:"source,omitempty"`
	RuleTypes  []string    `json:"rule_types"`
	Rules      branchRules `json:"rules"`
	// Bypassable is true when someone may (or, with BypassKnown false, might) skip the
	// source's rules; BypassKnown is false when GitHub did not disclose the bypass list.
	Bypassable  bool `json:"bypassable"`
	BypassKnown bool `json:"bypass_known"`
}

type ignoredDoc struct {
	RulesetID   int64  `json:"ruleset_id"`
	Name        string `json:"name"`
	Enforcement string `json:"enforcement"`
	Target      string `json:"target,omitempty"`
	SourceType  string `json:"source_type,omitempty"`
	Reason      string `json:"reason"`
}

// bypassEntry is someone who may skip a source's rules.
type bypassEntry struct {
	Source     string `json:"source"` // "classic" or "ruleset:<id>"
	ActorType  string `json:"actor_type"`
	ActorID    *int64 `json:"actor_id,omitempty"`
	Actor      string `json:"actor,omitempty"`
	BypassMode string `json:"bypass_mode"`
}

// codeownersPaths are where GitHub looks for CODEOWNERS, in its order.
var codeownersPaths = []string{".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}

// effectiveArtefact derives the effective protection from the reads. If either read
// failed for a reason other than the feature being unavailable, or the rulesets cannot be
// judged, the result would be a guess, so it is a gap. Where code-owner review is required,
// it looks for the CODEOWNERS file the requirement needs.
func (col *collector) effectiveArtefact(ctx context.Context, owner, repo, branch string, c classicResult, r rulesetsResult) evidence.Artefact {
	full := owner + "/" + repo
	subject := repoSubject(full)
	ex := append(append([]evidence.Exchange{}, c.exchanges...), r.exchanges...)
	switch {
	case c.err != nil && c.state != stateNotAvailable:
		return gapWith(kindEffectiveProtection, subject, statusOf(c.err), fmt.Errorf("classic protection unknown: %w", c.err), ex)
	case r.err != nil && r.state != stateNotAvailable:
		return gapWith(kindEffectiveProtection, subject, statusOf(r.err), fmt.Errorf("rulesets unknown: %w", r.err), ex)
	}
	d, err := combine(full, branch, c, r)
	if err != nil {
		return gapWith(kindEffectiveProtection, subject, evidence.StatusFailed, err, ex)
	}
	if d.Effective.RequireCodeOwnerReviews {
		path, cex, err := col.findFile(ctx, owner, repo, codeownersPaths)
		ex = append(ex, cex...)
		d.Codeowners.Checked = true
		if err != nil {
			d.Codeowners.Error = fmt.Sprintf("could not look for CODEOWNERS in %s: %v", full, err)
		} else {
			d.Codeowners.Present, d.Codeowners.Path = ptr(path != ""), path
		}
	}
	return document(kindEffectiveProtection, subject, d, ex)
}

// combine computes the effective protection. It is a pure function of GitHub's answers.
func combine(full, branch string, c classicResult, r rulesetsResult) (effectiveDoc, error) {
	d := effectiveDoc{
		Repository: full, DefaultBranch: branch, ClassicProtection: c.state, Rulesets: r.state,
		Sources: []sourceDoc{}, IgnoredRulesets: []ignoredDoc{}, BypassActors: []bypassEntry{}, UndocumentedValues: []string{},
		Effective: newBranchRules(), EnforcedForEveryone: newBranchRules(),
	}
	if c.state == stateEnabled && c.prot != nil {
		d.addClassic(c.prot, c.strictKnown)
	}
	if r.state != stateOK {
		d.Protected = d.Effective.any()
		return d, nil
	}
	d.EffectiveRulesFrom = r.effectiveFrom
	for _, rs := range r.listed {
		if !documentedEnforcement[rs.Enforcement] {
			d.UndocumentedValues = append(d.UndocumentedValues, fmt.Sprintf("ruleset %d (%s): enforcement %q is not one of disabled, active, evaluate", rs.ID, rs.Name, rs.Enforcement))
		}
	}
	var hidden []string
	apply := func(rs *ruleset, rules []rulesetRule) {
		s := sourceDoc{Type: "ruleset", RulesetID: rs.ID, Name: rs.Name, SourceType: rs.SourceType, Source: rs.Source,
			RuleTypes: ruleTypes(rules), Rules: rulesetRules(rules)}
		src := fmt.Sprintf("ruleset:%d", rs.ID)
		if rs.BypassActors == nil {
			s.Bypassable = true
			hidden = append(hidden, fmt.Sprintf("%d (%s)", rs.ID, rs.Name))
		} else {
			s.BypassKnown = true
			for _, b := range *rs.BypassActors {
				s.Bypassable = true
				d.BypassActors = append(d.BypassActors, bypassEntry{Source: src, ActorType: b.ActorType, ActorID: b.ActorID, BypassMode: b.BypassMode})
			}
		}
		d.Sources = append(d.Sources, s)
		d.Effective.add(s.Rules)
		if !s.Bypassable {
			d.EnforcedForEveryone.add(s.Rules)
		}
	}
	ignore := func(rs *ruleset, reason string) {
		d.IgnoredRulesets = append(d.IgnoredRulesets, ignoredDoc{
			RulesetID: rs.ID, Name: rs.Name, Enforcement: rs.Enforcement, Target: rs.Target, SourceType: rs.SourceType, Reason: reason,
		})
	}
	switch r.effectiveFrom {
	case fromGitHub:
		byID := map[int64][]rulesetRule{}
		var ids []int64
		for _, br := range r.branchRules {
			if _, ok := byID[br.RulesetID]; !ok {
				ids = append(ids, br.RulesetID)
			}
			byID[br.RulesetID] = append(byID[br.RulesetID], rulesetRule{Type: br.Type, Parameters: br.Parameters})
		}
		slices.Sort(ids)
		for _, id := range ids {
			rs := r.details[id]
			if rs == nil {
				return d, fmt.Errorf("GitHub names ruleset %d among the rules of %s branch %s, but it was not read", id, full, branch)
			}
			apply(rs, byID[id])
		}
		for _, rs := range r.listed {
			if _, applied := byID[rs.ID]; !applied {
				ignore(rs, listedNotApplied(rs, branch))
			}
		}
	default:
		for _, rs := range r.listed {
			if detail := r.details[rs.ID]; detail != nil {
				rs = detail // the listing carries no conditions
			}
			if !documentedEnforcement[rs.Enforcement] {
				return d, fmt.Errorf("ruleset %d (%s) of %s has enforcement %q, which GitHub does not document, and this server cannot say which rules apply to %s: the effective protection is unknown",
					rs.ID, rs.Name, full, rs.Enforcement, branch)
			}
			if reason := ignoreReason(rs, branch); reason != "" {
				ignore(rs, reason)
				continue
			}
			apply(rs, rs.Rules)
		}
	}
	if len(hidden) > 0 {
		d.BypassNotVisible = fmt.Sprintf("bypass actors of ruleset %s not visible with the granted permissions (GitHub returns them only to callers with write access to the ruleset)",
			strings.Join(hidden, ", "))
	}
	d.Protected = d.Effective.any()
	d.BypassPossible = len(d.BypassActors) > 0
	return d, nil
}

// addClassic adds classic protection as a source. Administrators bypass it unless
// enforce_admins is on; pull-request bypass allowances skip its review rules.
func (d *effectiveDoc) addClassic(prot *gh.Protection, strictKnown bool) {
	rules := classicRules(prot, strictKnown)
	s := sourceDoc{Type: "classic", Rules: rules, BypassKnown: true, RuleTypes: []string{}}
	enforced := rules
	if prot.EnforceAdmins == nil || !prot.EnforceAdmins.Enabled {
		s.Bypassable = true
		enforced = newBranchRules()
		d.BypassActors = append(d.BypassActors, bypassEntry{Source: "classic", ActorType: "RepositoryRole", Actor: "admin", BypassMode: "always"})
	}
	if r := prot.RequiredPullRequestReviews; r != nil && r.BypassPullRequestAllowances != nil {
		a := actorsOf(r.BypassPullRequestAllowances.Users, r.BypassPullRequestAllowances.Teams, r.BypassPullRequestAllowances.Apps)
		for _, kind := range []struct {
			typ   string
			names []string
		}{{"User", a.Users}, {"Team", a.Teams}, {"Integration", a.Apps}} {
			for _, n := range kind.names {
				d.BypassActors = append(d.BypassActors, bypassEntry{Source: "classic", ActorType: kind.typ, Actor: n, BypassMode: "pull_request_requirements"})
			}
		}
		if !a.empty() {
			s.Bypassable = true
			enforced = enforced.withoutPullRequestRules()
		}
	}
	d.Sources = append(d.Sources, s)
	d.Effective.add(rules)
	d.EnforcedForEveryone.add(enforced)
}

// listedNotApplied says why GitHub's branch rules include nothing of a listed ruleset.
func listedNotApplied(rs *ruleset, branch string) string {
	switch {
	case !documentedEnforcement[rs.Enforcement]:
		return fmt.Sprintf("enforcement %q is not a documented value; GitHub's rules for %s include none of its rules", rs.Enforcement, branch)
	case rs.Enforcement != "active":
		return "enforcement is " + rs.Enforcement + ": nothing is enforced"
	case rs.Target != "" && rs.Target != "branch":
		return "targets " + rs.Target + "s, not branches"
	}
	return fmt.Sprintf("GitHub's rules for %s include none of its rules (its conditions do not select the branch)", branch)
}

func classicRules(p *gh.Protection, strictKnown bool) branchRules {
	r := newBranchRules()
	if pr := p.RequiredPullRequestReviews; pr != nil {
		r.RequirePullRequest = true
		r.RequiredApprovingReviewCount = pr.RequiredApprovingReviewCount
		r.RequireCodeOwnerReviews = pr.RequireCodeOwnerReviews
		r.DismissStaleReviews = pr.DismissStaleReviews
		r.RequireLastPushApproval = pr.RequireLastPushApproval
	}
	if s := p.RequiredStatusChecks; s != nil {
		r.RequiredStatusChecks = classicContexts(s)
		r.StrictStatusChecks = ptr(s.Strict)
		if !strictKnown {
			r.StrictStatusChecks = nil
		}
	}
	r.BlockForcePushes = p.AllowForcePushes == nil || !p.AllowForcePushes.Enabled
	r.BlockDeletions = p.AllowDeletions == nil || !p.AllowDeletions.Enabled
	r.RequireSignedCommits = p.RequiredSignatures != nil && p.RequiredSignatures.GetEnabled()
	r.RequireLinearHistory = p.RequireLinearHistory != nil && p.RequireLinearHistory.Enabled
	r.RequireConversationResolution = p.RequiredConversationResolution != nil && p.RequiredConversationResolution.Enabled
	return r
}

func ruleTypes(rules []rulesetRule) []string {
	set := map[string]bool{}
	for _, r := range rules {
		set[r.Type] = true
	}
	return sortedKeys(set)
}

// rulesetRules maps ruleset rules onto branchRules. Rule types that do not protect the
// branch this way (commit message patterns, merge queue, ...) are listed in the source's
// rule_types only; they still count for bypass.
func rulesetRules(rules []rulesetRule) branchRules {
	r := newBranchRules()
	for _, rule := range rules {
		switch rule.Type {
		case "pull_request":
			var p struct {
				Count          int  `json:"required_approving_review_count"`
				DismissStale   bool `json:"dismiss_stale_reviews_on_push"`
				CodeOwner      bool `json:"require_code_owner_review"`
				LastPush       bool `json:"require_last_push_approval"`
				ThreadResolved bool `json:"required_review_thread_resolution"`
			}
			json.Unmarshal(rule.Parameters, &p)
			r.add(branchRules{RequirePullRequest: true, RequiredApprovingReviewCount: p.Count, DismissStaleReviews: p.DismissStale,
				RequireCodeOwnerReviews: p.CodeOwner, RequireLastPushApproval: p.LastPush, RequireConversationResolution: p.ThreadResolved,
				StrictStatusChecks: ptr(false)})
		case "required_status_checks":
			var p struct {
				Checks []struct {
					Context string `json:"context"`
				} `json:"required_status_checks"`
				Strict *bool `json:"strict_required_status_checks_policy"`
			}
			json.Unmarshal(rule.Parameters, &p)
			o := branchRules{StrictStatusChecks: p.Strict}
			for _, c := range p.Checks {
				o.RequiredStatusChecks = append(o.RequiredStatusChecks, c.Context)
			}
			r.add(o)
		case "non_fast_forward":
			r.BlockForcePushes = true
		case "deletion":
			r.BlockDeletions = true
		case "required_signatures":
			r.RequireSignedCommits = true
		case "required_linear_history":
			r.RequireLinearHistory = true
		}
	}
	return r
}

// ignoreReason says why a ruleset does not protect the default branch, or "" if it does.
func ignoreReason(rs *ruleset, branch string) string {
	switch {
	case rs.Enforcement != "active":
		return "enforcement is " + rs.Enforcement + ": nothing is enforced"
	case rs.Target != "" && rs.Target != "branch":
		return "targets " + rs.Target + "s, not branches"
	case rs.Conditions == nil || rs.Conditions.RefName == nil:
		return "no ref_name condition: applies to no branch"
	}
	rn := rs.Conditions.RefName
	if !slices.ContainsFunc(rn.Include, func(p string) bool { return refMatches(p, branch) }) {
		return fmt.Sprintf("ref_name include %v does not match %s", rn.Include, branch)
	}
	if slices.ContainsFunc(rn.Exclude, func(p string) bool { return refMatches(p, branch) }) {
		return fmt.Sprintf("ref_name exclude %v matches %s", rn.Exclude, branch)
	}
	return ""
}

// refMatches reports whether a ruleset ref pattern matches the default branch.
func refMatches(pattern, branch string) bool {
	switch pattern {
	case "~ALL", "~DEFAULT_BRANCH":
		return true
	}
	ref := "refs/heads/" + branch
	if !strings.HasPrefix(pattern, "refs/") {
		return globMatch(pattern, branch)
	}
	return globMatch(pattern, ref)
}

// globMatch implements the fnmatch patterns GitHub uses in ruleset conditions: * matches
// within a path segment, ** across segments, ? one character, [...] a class.
func globMatch(pattern, s string) bool {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				re.WriteString(".*")
				i++
			} else {
				re.WriteString("[^/]*")
			}
		case '?':
			re.WriteString("[^/]")
		case '[':
			if j := strings.IndexByte(pattern[i+1:], ']'); j >= 0 {
				class := pattern[i+1 : i+1+j]
				if strings.HasPrefix(class, "!") {
					class = "^" + class[1:]
				}
				re.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
				i += j + 1
			} else {
				re.WriteString(`\[`)
			}
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	m, err := regexp.MatchString(re.String(), s)
	return err == nil && m
}
