package github

import (
	"bytes"
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
// and rulesets both apply.
type branchRules struct {
	RequirePullRequest            bool     `json:"require_pull_request"`
	RequiredApprovingReviewCount  int      `json:"required_approving_review_count"`
	RequireCodeOwnerReviews       bool     `json:"require_code_owner_reviews"`
	DismissStaleReviews           bool     `json:"dismiss_stale_reviews"`
	RequireLastPushApproval       bool     `json:"require_last_push_approval"`
	RequireConversationResolution bool     `json:"require_conversation_resolution"`
	RequiredStatusChecks          []string `json:"required_status_checks"`
	StrictStatusChecks            bool     `json:"strict_status_checks"`
	BlockForcePushes              bool     `json:"block_force_pushes"`
	BlockDeletions                bool     `json:"block_deletions"`
	RequireSignedCommits          bool     `json:"require_signed_commits"`
	RequireLinearHistory          bool     `json:"require_linear_history"`
}

func newBranchRules() branchRules { return branchRules{RequiredStatusChecks: []string{}} }

// add merges o into b, keeping the stricter value of each rule.
func (b *branchRules) add(o branchRules) {
	b.RequirePullRequest = b.RequirePullRequest || o.RequirePullRequest
	b.RequiredApprovingReviewCount = max(b.RequiredApprovingReviewCount, o.RequiredApprovingReviewCount)
	b.RequireCodeOwnerReviews = b.RequireCodeOwnerReviews || o.RequireCodeOwnerReviews
	b.DismissStaleReviews = b.DismissStaleReviews || o.DismissStaleReviews
	b.RequireLastPushApproval = b.RequireLastPushApproval || o.RequireLastPushApproval
	b.RequireConversationResolution = b.RequireConversationResolution || o.RequireConversationResolution
	b.StrictStatusChecks = b.StrictStatusChecks || o.StrictStatusChecks
	b.BlockForcePushes = b.BlockForcePushes || o.BlockForcePushes
	b.BlockDeletions = b.BlockDeletions || o.BlockDeletions
	b.RequireSignedCommits = b.RequireSignedCommits || o.RequireSignedCommits
	b.RequireLinearHistory = b.RequireLinearHistory || o.RequireLinearHistory
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

func (b branchRules) equal(o branchRules) bool {
	x, _ := json.Marshal(b)
	y, _ := json.Marshal(o)
	return bytes.Equal(x, y)
}

// effectiveDoc is github.repo.default_branch_protection: what actually protects the
// default branch. GitHub applies classic protection and every active ruleset whose
// conditions match the branch, the strictest value of each rule winning. A ruleset in
// evaluate or disabled mode enforces nothing and is listed under ignored_rulesets. Anyone
// who can bypass a source (admins when classic protection does not include them, a
// ruleset's bypass actors) escapes its rules: enforced_for_everyone holds only what no
// one can bypass, and bypass_possible says whether that is less than effective.
type effectiveDoc struct {
	Repository          string        `json:"repository"`
	DefaultBranch       string        `json:"default_branch"`
	Protected           bool          `json:"protected"`
	ClassicProtection   string        `json:"classic_protection"`
	Rulesets            string        `json:"rulesets"`
	Sources             []sourceDoc   `json:"sources"`
	IgnoredRulesets     []ignoredDoc  `json:"ignored_rulesets"`
	Effective           branchRules   `json:"effective"`
	EnforcedForEveryone branchRules   `json:"enforced_for_everyone"`
	BypassActors        []bypassEntry `json:"bypass_actors"`
	BypassPossible      bool          `json:"bypass_possible"`
}

// sourceDoc is one source of protection that applies to the default branch.
type sourceDoc struct {
	Type       string      `json:"type"` // "classic" or "ruleset"
	RulesetID  int64       `json:"ruleset_id,omitempty"`
	Name       string      `json:"name,omitempty"`
	SourceType string      `json:"source_type,omitempty"`
	Source     string      `json:"source,omitempty"`
	Rules      branchRules `json:"rules"`
	// Bypassable is true when someone may skip the source's rules; BypassKnown is false when
	// GitHub did not disclose the bypass list (then the source counts as bypassable).
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

// effectiveArtefact derives the effective protection from the two reads. If either read
// failed for a reason other than the feature being unavailable, the result would be a
// guess, so it is a gap with the same status.
func effectiveArtefact(full, branch string, c classicResult, r rulesetsResult) evidence.Artefact {
	subject := repoSubject(full)
	ex := append(append([]evidence.Exchange{}, c.exchanges...), r.exchanges...)
	switch {
	case c.err != nil && c.state != stateNotAvailable:
		return gapWith(kindEffectiveProtection, subject, statusOf(c.err), fmt.Errorf("classic protection unknown: %w", c.err), ex)
	case r.err != nil && r.state != stateNotAvailable:
		return gapWith(kindEffectiveProtection, subject, statusOf(r.err), fmt.Errorf("rulesets unknown: %w", r.err), ex)
	}
	return document(kindEffectiveProtection, subject, combine(full, branch, c.state, c.prot, r.state, r.rulesets), ex)
}

// combine computes the effective protection. It is a pure function of GitHub's answers.
func combine(full, branch, classicState string, prot *gh.Protection, rulesetsState string, rulesets []*ruleset) effectiveDoc {
	d := effectiveDoc{
		Repository: full, DefaultBranch: branch, ClassicProtection: classicState, Rulesets: rulesetsState,
		Sources: []sourceDoc{}, IgnoredRulesets: []ignoredDoc{}, BypassActors: []bypassEntry{},
		Effective: newBranchRules(), EnforcedForEveryone: newBranchRules(),
	}
	if classicState == stateEnabled && prot != nil {
		rules := classicRules(prot)
		s := sourceDoc{Type: "classic", Rules: rules, BypassKnown: true}
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
	for _, rs := range rulesets {
		if reason := ignoreReason(rs, branch); reason != "" {
			d.IgnoredRulesets = append(d.IgnoredRulesets, ignoredDoc{
				RulesetID: rs.ID, Name: rs.Name, Enforcement: rs.Enforcement, Target: rs.Target, SourceType: rs.SourceType, Reason: reason,
			})
			continue
		}
		rules := rulesetRules(rs)
		src := fmt.Sprintf("ruleset:%d", rs.ID)
		s := sourceDoc{Type: "ruleset", RulesetID: rs.ID, Name: rs.Name, SourceType: rs.SourceType, Source: rs.Source, Rules: rules}
		switch {
		case rs.BypassActors == nil:
			s.Bypassable = true
			d.BypassActors = append(d.BypassActors, bypassEntry{Source: src, ActorType: "unknown", BypassMode: "unknown"})
		default:
			s.BypassKnown = true
			for _, b := range *rs.BypassActors {
				s.Bypassable = true
				d.BypassActors = append(d.BypassActors, bypassEntry{Source: src, ActorType: b.ActorType, ActorID: b.ActorID, BypassMode: b.BypassMode})
			}
		}
		d.Sources = append(d.Sources, s)
		d.Effective.add(rules)
		if !s.Bypassable {
			d.EnforcedForEveryone.add(rules)
		}
	}
	d.Protected = d.Effective.any()
	d.BypassPossible = !d.Effective.equal(d.EnforcedForEveryone)
	return d
}

func classicRules(p *gh.Protection) branchRules {
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
		r.StrictStatusChecks = s.Strict
	}
	r.BlockForcePushes = p.AllowForcePushes == nil || !p.AllowForcePushes.Enabled
	r.BlockDeletions = p.AllowDeletions == nil || !p.AllowDeletions.Enabled
	r.RequireSignedCommits = p.RequiredSignatures != nil && p.RequiredSignatures.GetEnabled()
	r.RequireLinearHistory = p.RequireLinearHistory != nil && p.RequireLinearHistory.Enabled
	r.RequireConversationResolution = p.RequiredConversationResolution != nil && p.RequiredConversationResolution.Enabled
	return r
}

// rulesetRules maps a ruleset's rules onto branchRules. Rule types that do not protect the
// branch (commit message patterns, merge queue, ...) stay in the raw rulesets document only.
func rulesetRules(rs *ruleset) branchRules {
	r := newBranchRules()
	for _, rule := range rs.Rules {
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
				RequireCodeOwnerReviews: p.CodeOwner, RequireLastPushApproval: p.LastPush, RequireConversationResolution: p.ThreadResolved})
		case "required_status_checks":
			var p struct {
				Checks []struct {
					Context string `json:"context"`
				} `json:"required_status_checks"`
				Strict bool `json:"strict_required_status_checks_policy"`
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
