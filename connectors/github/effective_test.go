package github

import (
	"encoding/json"
	"slices"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/connectors/github/sim"
	"github.com/exhibit-dev/exhibit/core/connector"
)

func classicStrong(enforceAdmins bool) *gh.Protection {
	return &gh.Protection{
		RequiredPullRequestReviews: &gh.PullRequestReviewsEnforcement{RequiredApprovingReviewCount: 1, DismissStaleReviews: true},
		RequiredStatusChecks:       &gh.RequiredStatusChecks{Strict: true, Contexts: &[]string{"ci/build"}},
		EnforceAdmins:              &gh.AdminEnforcement{Enabled: enforceAdmins},
		AllowForcePushes:           &gh.AllowForcePushes{Enabled: false},
		AllowDeletions:             &gh.AllowDeletions{Enabled: false},
		RequiredSignatures:         &gh.SignaturesProtectedBranch{Enabled: gh.Bool(false)},
	}
}

func rs(id int64, enforcement string, include []string, bypass *[]bypassActor, rules ...rulesetRule) *ruleset {
	r := &ruleset{ID: id, Name: "rs", Target: "branch", SourceType: "Repository", Enforcement: enforcement, BypassActors: bypass, Rules: rules}
	r.Conditions = &rulesetConditions{}
	r.Conditions.RefName = &struct {
		Include []string `json:"include"`
		Exclude []string `json:"exclude"`
	}{Include: include, Exclude: []string{"refs/heads/main-legacy"}}
	return r
}

func rule(typ string, params any) rulesetRule {
	r := rulesetRule{Type: typ}
	if params != nil {
		r.Parameters, _ = json.Marshal(params)
	}
	return r
}

var noBypass = &[]bypassActor{}

func TestCombine(t *testing.T) {
	pr3 := rule("pull_request", map[string]any{"required_approving_review_count": 3, "require_code_owner_review": true, "dismiss_stale_reviews_on_push": false})
	checks := rule("required_status_checks", map[string]any{"required_status_checks": []map[string]any{{"context": "ci/test"}}, "strict_required_status_checks_policy": false})
	admin := &[]bypassActor{{ActorID: gh.Int64(5), ActorType: "RepositoryRole", BypassMode: "always"}}
	tests := []struct {
		name     string
		classic  string
		prot     *gh.Protection
		rulesets []*ruleset
		want     func(d effectiveDoc) bool
	}{
		{"nothing", stateAbsent, nil, nil, func(d effectiveDoc) bool { return !d.Protected && !d.BypassPossible }},
		{"classic, admins included", stateEnabled, classicStrong(true), nil, func(d effectiveDoc) bool {
			return d.Protected && d.Effective.RequiredApprovingReviewCount == 1 && d.Effective.BlockForcePushes && !d.BypassPossible
		}},
		{"classic, admins exempt", stateEnabled, classicStrong(false), nil, func(d effectiveDoc) bool {
			return d.Protected && d.BypassPossible && d.EnforcedForEveryone.RequiredApprovingReviewCount == 0 && len(d.BypassActors) == 1
		}},
		{"classic with pull request bypass allowance", stateEnabled, func() *gh.Protection {
			p := classicStrong(true)
			p.RequiredPullRequestReviews.BypassPullRequestAllowances = &gh.BypassPullRequestAllowances{Users: []*gh.User{{Login: gh.String("release-bot")}}}
			return p
		}(), nil, func(d effectiveDoc) bool {
			return d.BypassPossible && !d.EnforcedForEveryone.RequirePullRequest && d.EnforcedForEveryone.BlockForcePushes
		}},
		{"classic and ruleset: the stricter of each", stateEnabled, classicStrong(true), []*ruleset{rs(1, "active", []string{"~DEFAULT_BRANCH"}, noBypass, pr3, checks, rule("required_signatures", nil))},
			func(d effectiveDoc) bool {
				e := d.Effective
				return e.RequiredApprovingReviewCount == 3 && e.RequireCodeOwnerReviews && e.DismissStaleReviews && *e.StrictStatusChecks &&
					slices.Equal(e.RequiredStatusChecks, []string{"ci/build", "ci/test"}) && e.RequireSignedCommits && len(d.Sources) == 2 && !d.BypassPossible
			}},
		{"evaluate mode counts for nothing", stateAbsent, nil, []*ruleset{rs(1, "evaluate", []string{"~ALL"}, noBypass, pr3)},
			func(d effectiveDoc) bool { return !d.Protected && len(d.IgnoredRulesets) == 1 && len(d.Sources) == 0 }},
		{"disabled counts for nothing", stateAbsent, nil, []*ruleset{rs(1, "disabled", []string{"~ALL"}, noBypass, pr3)},
			func(d effectiveDoc) bool { return !d.Protected && len(d.IgnoredRulesets) == 1 }},
		{"bypass actors weaken a ruleset", stateAbsent, nil, []*ruleset{rs(1, "active", []string{"~DEFAULT_BRANCH"}, admin, pr3, rule("non_fast_forward", nil))},
			func(d effectiveDoc) bool {
				return d.Protected && d.BypassPossible && !d.EnforcedForEveryone.any() && d.BypassActors[0].Source == "ruleset:1"
			}},
		{"an undisclosed bypass list is unknown: not a bypass, not enforced for everyone", stateAbsent, nil, []*ruleset{rs(1, "active", []string{"~DEFAULT_BRANCH"}, nil, rule("deletion", nil))},
			func(d effectiveDoc) bool {
				return !d.BypassPossible && d.BypassNotVisible != "" && !d.Sources[0].BypassKnown && d.Effective.BlockDeletions && !d.EnforcedForEveryone.BlockDeletions
			}},
		{"a bypass actor on a ruleset of unmodelled rule types is a bypass", stateEnabled, classicStrong(true), []*ruleset{rs(1, "active", []string{"~ALL"}, admin, rule("commit_author_email_pattern", map[string]any{"operator": "contains", "pattern": "github"}))},
			func(d effectiveDoc) bool {
				return d.BypassPossible && slices.Equal(d.Sources[1].RuleTypes, []string{"commit_author_email_pattern"}) && d.BypassNotVisible == ""
			}},
		{"status checks without strict: unknown", stateEnabled, func() *gh.Protection { return classicStrong(true) }(), nil,
			func(d effectiveDoc) bool { return d.Effective.StrictStatusChecks != nil }},
		{"a bypassable ruleset on top of unbypassable classic protection", stateEnabled, classicStrong(true), []*ruleset{rs(1, "active", []string{"~ALL"}, admin, pr3)},
			func(d effectiveDoc) bool {
				// Admins may skip the ruleset's third approval, not the classic first one.
				return d.BypassPossible && d.Effective.RequiredApprovingReviewCount == 3 && d.EnforcedForEveryone.RequiredApprovingReviewCount == 1
			}},
		{"ruleset for other branches", stateAbsent, nil, []*ruleset{rs(1, "active", []string{"refs/heads/release/*"}, noBypass, pr3)},
			func(d effectiveDoc) bool { return !d.Protected && len(d.IgnoredRulesets) == 1 }},
		{"ruleset by pattern", stateAbsent, nil, []*ruleset{rs(1, "active", []string{"refs/heads/ma*"}, noBypass, pr3)},
			func(d effectiveDoc) bool { return d.Protected }},
		{"tag rulesets do not protect branches", stateAbsent, nil, []*ruleset{func() *ruleset {
			r := rs(1, "active", []string{"~ALL"}, noBypass, rule("deletion", nil))
			r.Target = "tag"
			return r
		}()}, func(d effectiveDoc) bool { return !d.Protected }},
		{"unknown rule types are ignored, not fatal", stateAbsent, nil, []*ruleset{rs(1, "active", []string{"~ALL"}, noBypass, rule("merge_queue", map[string]any{"merge_method": "SQUASH"}), rule("deletion", nil))},
			func(d effectiveDoc) bool { return d.Protected && d.Effective.BlockDeletions }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := combine("acme/x", "main", classicResult{state: tc.classic, prot: tc.prot, strictKnown: true}, conditionsResult(tc.rulesets))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(d) {
				b, _ := json.MarshalIndent(d, "", "  ")
				t.Errorf("unexpected effective protection:\n%s", b)
			}
		})
	}
}

// conditionsResult is a rulesets read on a server without the branch rules endpoint: the
// listing is the detail.
func conditionsResult(list []*ruleset) rulesetsResult {
	r := rulesetsResult{state: stateOK, listed: list, details: map[int64]*ruleset{}, effectiveFrom: fromConditions}
	for _, rs := range list {
		r.details[rs.ID] = rs
	}
	return r
}

// TestCombineUnknowns: what GitHub leaves unsaid or says outside its description is
// recorded, never read as a value.
func TestCombineUnknowns(t *testing.T) {
	// A missing strict is unknown; a known true from another source decides.
	unknown := classicResult{state: stateEnabled, prot: classicStrong(true), strictKnown: false}
	d, err := combine("acme/x", "main", unknown, rulesetsResult{state: stateNotAvailable})
	if err != nil || d.Effective.StrictStatusChecks != nil {
		t.Errorf("strict missing: %v, err %v", d.Effective.StrictStatusChecks, err)
	}
	strict := rule("required_status_checks", map[string]any{"required_status_checks": []map[string]any{{"context": "ci"}}, "strict_required_status_checks_policy": true})
	d, _ = combine("acme/x", "main", unknown, conditionsResult([]*ruleset{rs(1, "active", []string{"~ALL"}, noBypass, strict)}))
	if d.Effective.StrictStatusChecks == nil || !*d.Effective.StrictStatusChecks {
		t.Errorf("strict from the ruleset: %v", d.Effective.StrictStatusChecks)
	}

	// An enforcement outside disabled|active|evaluate (GitHub's own listing example says
	// "enabled"): with GitHub's branch rules it is recorded; without, the effective
	// protection is unknown.
	enabled := rs(42, "enabled", []string{"~ALL"}, noBypass, rule("deletion", nil))
	if _, err := combine("acme/x", "main", classicResult{state: stateAbsent}, conditionsResult([]*ruleset{enabled})); err == nil {
		t.Error("undocumented enforcement without branch rules: no error")
	}
	withRules := rulesetsResult{state: stateOK, listed: []*ruleset{enabled}, details: map[int64]*ruleset{42: enabled}, effectiveFrom: fromGitHub,
		branchRules: []branchRule{{Type: "deletion", RulesetID: 42, RulesetSourceType: "Repository"}}}
	d, err = combine("acme/x", "main", classicResult{state: stateAbsent}, withRules)
	if err != nil || len(d.UndocumentedValues) != 1 || !d.Effective.BlockDeletions {
		t.Errorf("undocumented enforcement with branch rules: %+v, err %v", d, err)
	}
}

func TestRefMatches(t *testing.T) {
	tests := []struct {
		pattern, branch string
		want            bool
	}{
		{"~DEFAULT_BRANCH", "main", true},
		{"~ALL", "trunk", true},
		{"refs/heads/main", "main", true},
		{"refs/heads/main", "mainline", false},
		{"refs/heads/*", "main", true},
		{"refs/heads/*", "feature/x", false},
		{"refs/heads/**", "feature/x", true},
		{"refs/heads/release/**/*", "release/2026/1", true},
		{"refs/heads/[mt]ain", "main", true},
		{"refs/heads/[!m]ain", "main", false},
		{"refs/heads/ma?n", "main", true},
		{"refs/heads/main.x", "mainyx", false},
		{"main", "main", true},
	}
	for _, tc := range tests {
		if got := refMatches(tc.pattern, tc.branch); got != tc.want {
			t.Errorf("refMatches(%q, %q) = %v, want %v", tc.pattern, tc.branch, got, tc.want)
		}
	}
}

// TestEffectiveRulesAgreement collects the same organisations once with GitHub's branch
// rules endpoint and once from a server without it (our matching of ruleset conditions):
// both must give the same effective protection, the same sources and the same bypass.
func TestEffectiveRulesAgreement(t *testing.T) {
	for _, opts := range []sim.Options{
		{Access: sim.AccessWrite},
		{Org: "weakcorp", Repos: 40, WeakOrg: true, Access: sim.AccessWrite},
		{Org: "readcorp", Repos: 20},
	} {
		docs := map[bool]map[string]map[string]any{}
		for _, noBranchRules := range []bool{false, true} {
			o := opts
			o.NoBranchRules = noBranchRules
			e := startSim(t, o)
			_, list := collect(t, e.connector(t, e.settings(), connector.Limits{}))
			docs[noBranchRules] = map[string]map[string]any{}
			for _, a := range list {
				if a.Kind != kindEffectiveProtection || a.Status.IsGap() {
					continue
				}
				var d map[string]any
				if err := json.Unmarshal(a.Document, &d); err != nil {
					t.Fatal(err)
				}
				docs[noBranchRules][a.Subject] = d
			}
		}
		if len(docs[false]) == 0 || len(docs[false]) != len(docs[true]) {
			t.Fatalf("%s: %d documents with branch rules, %d without", opts.Org, len(docs[false]), len(docs[true]))
		}
		for subject, withRules := range docs[false] {
			matched := docs[true][subject]
			if withRules["effective_rules_from"] != fromGitHub || matched["effective_rules_from"] != fromConditions {
				t.Errorf("%s: effective rules from %v and %v", subject, withRules["effective_rules_from"], matched["effective_rules_from"])
			}
			for _, field := range []string{"protected", "effective", "enforced_for_everyone", "bypass_actors", "bypass_possible", "bypass_not_visible", "sources"} {
				a, _ := json.Marshal(withRules[field])
				b, _ := json.Marshal(matched[field])
				if string(a) != string(b) {
					t.Errorf("%s: %s differs:\nGitHub's branch rules: %s\nmatched conditions:    %s", subject, field, a, b)
				}
			}
		}
	}
}
