package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// replayAnswer is what the replay server answers for one operation.
type replayAnswer struct {
	status int
	body   json.RawMessage // nil: the operation's documented example for the status
}

// recorded returns the response of a recorded exchange in testdata/reference/fixtures.
func recorded(t *testing.T, file string) replayAnswer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(referenceDir, "fixtures", file))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return replayAnswer{f.Status, f.Response}
}

// serveReplay serves GitHub's documented examples (and the answers given by operationId
// instead) under /api/v3, whatever the names in the request: the examples' repositories
// and organisations differ, and the connector follows what the listing names.
func serveReplay(t *testing.T, answers map[string]replayAnswer) *httptest.Server {
	t.Helper()
	ref := loadReference(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/api/v3")
		op := ref.operation(r.Method, path)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if op == nil {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`)
			return
		}
		a, ok := answers[op.OperationID]
		if !ok {
			a = replayAnswer{status: http.StatusOK}
			if _, documented := op.Responses["204"]; documented {
				a.status = http.StatusNoContent
			}
		}
		body := a.body
		if body == nil {
			body = op.example(fmt.Sprint(a.status), "file")
			if op.OperationID == "repos/get-repo-ruleset" {
				// GitHub has one ruleset example; answer it for the ruleset asked for.
				body = withID(t, body, path[strings.LastIndex(path, "/")+1:])
			}
		}
		w.WriteHeader(a.status)
		if a.status != http.StatusNoContent {
			w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// replayCollect collects organisation "octocat" from a replay server through the real
// connector and evaluates the shipped rules on every artefact.
func replayCollect(t *testing.T, answers map[string]replayAnswer) (map[string]evidence.Artefact, map[string]controls.Result) {
	t.Helper()
	srv := serveReplay(t, answers)
	e := &testEnv{clock: newFakeClock(), store: mem.New()}
	settings := fmt.Sprintf("orgs: [octocat]\nbase_url: %s/api/v3/\ntoken_env: GH_TOKEN\nsecurity_policy: all\n", srv.URL)
	arts, list := collect(t, e.connector(t, settings, connector.Limits{}))
	rs, err := controls.ParseRules("rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]controls.Result{}
	for _, a := range list {
		var res []controls.Result
		if a.Status.IsGap() {
			res = rs.Gap(a.Kind, a.Subject, a.Status, a.Error, nil)
		} else {
			res = rs.Evaluate(a.Kind, a.Subject, a.Document, e.clock.Now())
		}
		for _, r := range res {
			results[r.Rule+" "+r.Subject] = r
		}
	}
	return arts, results
}

// replayVerdict is a verdict GitHub's example data implies, worked out from the docs'
// words. knownWrong names the issue whose fix makes the connector agree; until then the
// test demands the wrong verdict, so the fix cannot go unnoticed either way.
type replayVerdict struct {
	rule, subject string
	want          controls.Outcome
	failing       string // an item the failing list must contain
	knownWrong    string
}

func checkVerdicts(t *testing.T, results map[string]controls.Result, verdicts []replayVerdict) {
	t.Helper()
	for _, v := range verdicts {
		r, ok := results[v.rule+" "+v.subject]
		if !ok {
			t.Errorf("%s on %s: no verdict", v.rule, v.subject)
			continue
		}
		right := r.Outcome == v.want && (v.failing == "" || slices.Contains(r.Failing, v.failing))
		switch {
		case v.knownWrong != "" && right:
			t.Errorf("%s on %s: now %s as the data implies; remove the known deviation (%s)", v.rule, v.subject, r.Outcome, v.knownWrong)
		case v.knownWrong != "":
			t.Logf("known deviation (%s): %s on %s is %s (%s), the data implies %s", v.knownWrong, v.rule, v.subject, r.Outcome, r.Detail(), v.want)
		case !right:
			t.Errorf("%s on %s: %s (%s; failing %v), the data implies %s %s", v.rule, v.subject, r.Outcome, r.Detail(), r.Failing, v.want, v.failing)
		}
	}
}

const replayRepo = "github:octocat/Hello-World"

// TestReplayBranchProtectionExample: GitHub's example of GET .../branches/{branch}/protection
// requires two approving reviews with code-owner review, dismisses stale reviews, includes
// administrators (enforce_admins enabled) and grants no pull-request bypass; but it allows
// force pushes and deletions, and its required status checks carry no `strict`. Rulesets:
// none apply (empty listings).
func TestReplayBranchProtectionExample(t *testing.T) {
	empty := replayAnswer{http.StatusOK, json.RawMessage(`[]`)}
	arts, results := replayCollect(t, map[string]replayAnswer{
		"repos/get-repo-rulesets": empty,
		"repos/get-branch-rules":  empty,
	})
	// Every other operation answers with GitHub's own example: all of them decode.
	for _, a := range arts {
		if a.Status.IsGap() {
			t.Errorf("GitHub's example for %s %s became a gap (%s): %s", a.Kind, a.Subject, a.Status, a.Error)
		}
	}
	checkVerdicts(t, results, []replayVerdict{
		{rule: "github.repo.default_branch_protected", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_reviews_required", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_code_owner_review", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_stale_reviews_dismissed", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_no_bypass", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_no_force_push_or_deletion", subject: replayRepo, want: controls.Fail},
		// The protection example has no required_signatures; the signature endpoint's
		// example says enabled.
		{rule: "github.repo.default_branch_signed_commits", subject: replayRepo, want: controls.Pass},
		// strict is missing: whether branches must be up to date is unknown, not false.
		{rule: "github.repo.default_branch_status_checks", subject: replayRepo, want: controls.Error},
		// The collaborators example: octocat with role_name write.
		{rule: "github.repo.admins_limited", subject: replayRepo, want: controls.Pass},
		// The example organisation (as its owner sees it): 2FA required, base permission read.
		{rule: "github.org.two_factor_required", subject: "github:octocat", want: controls.Pass},
		{rule: "github.org.base_permission_restricted", subject: "github:octocat", want: controls.Pass},
	})
}

// TestReplayRulesetExamples: the branch is not protected classically (Octokit's recorded
// 404 "Branch not protected"); GitHub's examples of the rulesets listing (enforcement
// "enabled", a value the schema does not allow), of a ruleset (bypass actor: a team, always)
// and of the branch rules (a commit message and a commit author e-mail pattern from
// rulesets 42 and 73) apply.
func TestReplayRulesetExamples(t *testing.T) {
	arts, results := replayCollect(t, map[string]replayAnswer{
		"repos/get-branch-protection": recorded(t, "branch-protection-0.json"),
	})
	checkVerdicts(t, results, []replayVerdict{
		// A ruleset with a bypass team is a bypass, whatever its rules are.
		{rule: "github.repo.default_branch_no_bypass", subject: replayRepo, want: controls.Fail, failing: "ruleset:42 Team 234"},
		{rule: "github.repo.default_branch_no_bypass", subject: replayRepo, want: controls.Fail, failing: "ruleset:73 Team 234"},
		{rule: "github.repo.default_branch_no_force_push_or_deletion", subject: replayRepo, want: controls.Fail},
	})
	if e := doc(t, arts, kindEffectiveProtection, replayRepo); len(e["undocumented_values"].([]any)) != 2 {
		t.Errorf("the listing's enforcement \"enabled\" is not recorded: %v", e["undocumented_values"])
	}
	d := doc(t, arts, kindBranchProtection, replayRepo)
	if d["protected"] != false || d["reason"] != "Branch not protected" {
		t.Errorf("classic protection from the recorded 404: %v", d)
	}
}

// TestReplayRecordedResponses feeds Octokit's recorded github.com responses to the
// connector: the organisation as its owner sees it (2FA not required, members may create
// public repositories) and collaborators with role_name.
func TestReplayRecordedResponses(t *testing.T) {
	_, results := replayCollect(t, map[string]replayAnswer{
		"orgs/get":                    recorded(t, "get-organization-0.json"),
		"repos/list-collaborators":    recorded(t, "add-and-remove-repository-collaborator-3.json"),
		"repos/get-branch-protection": recorded(t, "branch-protection-0.json"),
		"repos/get-repo-rulesets":     {http.StatusOK, json.RawMessage(`[]`)},
		"repos/get-branch-rules":      {http.StatusOK, json.RawMessage(`[]`)},
	})
	checkVerdicts(t, results, []replayVerdict{
		{rule: "github.org.two_factor_required", subject: "github:octocat", want: controls.Fail},
		{rule: "github.org.base_permission_restricted", subject: "github:octocat", want: controls.Pass},
		{rule: "github.org.public_repo_creation_restricted", subject: "github:octocat", want: controls.Fail},
		{rule: "github.repo.default_branch_protected", subject: replayRepo, want: controls.Fail},
		{rule: "github.repo.admins_limited", subject: replayRepo, want: controls.Pass},
	})
}

// withID returns a JSON object with its "id" replaced.
func withID(t *testing.T, body json.RawMessage, id string) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Error(err)
		return body
	}
	m["id"] = json.RawMessage(id)
	b, _ := json.Marshal(m)
	return b
}

// withoutField returns a documented example with one top-level field removed.
func withoutField(t *testing.T, opID, status, field string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(loadReference(t).byID(t, opID).example(status, ""), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, field)
	b, _ := json.Marshal(m)
	return b
}

// TestReplayBypassVisibility: GitHub's ruleset example as a caller with write access sees
// it (bypass actors: a team) and as the connector's read-only App sees it (no
// bypass_actors: "only returned if the user making the API request has write access to the
// ruleset"). Classic protection: GitHub's example, which includes administrators.
func TestReplayBypassVisibility(t *testing.T) {
	rules := replayAnswer{http.StatusOK, json.RawMessage(`[{"type":"non_fast_forward","ruleset_source_type":"Repository","ruleset_source":"monalisa/my-repo","ruleset_id":42}]`)}
	_, results := replayCollect(t, map[string]replayAnswer{"repos/get-branch-rules": rules})
	checkVerdicts(t, results, []replayVerdict{
		{rule: "github.repo.default_branch_no_bypass", subject: replayRepo, want: controls.Fail, failing: "ruleset:42 Team 234"},
	})
	arts, results := replayCollect(t, map[string]replayAnswer{
		"repos/get-branch-rules": rules,
		"repos/get-repo-ruleset": {http.StatusOK, withoutField(t, "repos/get-repo-ruleset", "200", "bypass_actors")},
	})
	checkVerdicts(t, results, []replayVerdict{
		{rule: "github.repo.default_branch_no_bypass", subject: replayRepo, want: controls.Error},
		// The ruleset's non_fast_forward blocks force pushes even though classic protection allows them.
		{rule: "github.repo.default_branch_no_force_push_or_deletion", subject: replayRepo, want: controls.Fail},
	})
	if r := results["github.repo.default_branch_no_bypass "+replayRepo]; !strings.Contains(r.Message, "ruleset 42") {
		t.Errorf("the error does not name the ruleset: %s", r.Message)
	}
	d := doc(t, arts, kindEffectiveProtection, replayRepo)
	if at(d, "effective.block_force_pushes") != true || at(d, "effective_rules_from") != fromGitHub {
		t.Errorf("effective protection: %v", d)
	}
}

// TestReplayDocumentedStatuses: the statuses the description documents besides 200 become
// the gaps they mean, and a 404 on branch protection that is not "Branch not protected" is
// a gap, not an unprotected branch.
func TestReplayDocumentedStatuses(t *testing.T) {
	notFound := json.RawMessage(`{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`)
	unavailable := json.RawMessage(`{"message":"Service unavailable","documentation_url":"https://docs.github.com/rest","status":"503"}`)
	for _, tc := range []struct {
		name    string
		answers map[string]replayAnswer
		kind    string
		subject string
		want    evidence.Status
	}{
		{"code scanning 404", map[string]replayAnswer{"code-scanning/list-alerts-for-org": {404, notFound}}, kindCodeScanningAlerts, "github:octocat", evidence.StatusFailed},
		{"code scanning 404, feature off", map[string]replayAnswer{"code-scanning/list-alerts-for-org": {404,
			json.RawMessage(`{"message":"Advanced Security must be enabled for this repository to use code scanning.","status":"404"}`)}}, kindCodeScanningAlerts, "github:octocat", evidence.StatusNotAvailable},
		{"code scanning 503", map[string]replayAnswer{"code-scanning/list-alerts-for-org": {503, unavailable}}, kindCodeScanningAlerts, "github:octocat", evidence.StatusFailed},
		{"secret scanning 404", map[string]replayAnswer{"secret-scanning/list-alerts-for-org": {404, notFound}}, kindSecretScanAlerts, "github:octocat", evidence.StatusFailed},
		{"secret scanning 503", map[string]replayAnswer{"secret-scanning/list-alerts-for-org": {503, unavailable}}, kindSecretScanAlerts, "github:octocat", evidence.StatusFailed},
		{"protection 404 Branch not found", map[string]replayAnswer{"repos/get-branch-protection": {404,
			json.RawMessage(`{"message":"Branch not found","documentation_url":"https://docs.github.com/rest","status":"404"}`)}}, kindBranchProtection, replayRepo, evidence.StatusFailed},
		{"a ruleset answered for another id", map[string]replayAnswer{"repos/get-repo-ruleset": {http.StatusOK,
			loadReference(t).byID(t, "repos/get-repo-ruleset").example("200", "")}}, kindRulesets, replayRepo, evidence.StatusFailed},
		{"effective protection after 404 Branch not found", map[string]replayAnswer{"repos/get-branch-protection": {404,
			json.RawMessage(`{"message":"Branch not found","status":"404"}`)}}, kindEffectiveProtection, replayRepo, evidence.StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arts, _ := replayCollect(t, tc.answers)
			a, ok := arts[tc.kind+" "+tc.subject]
			if !ok || a.Status != tc.want {
				t.Errorf("%s %s: %s (%s), want %s", tc.kind, tc.subject, a.Status, a.Error, tc.want)
			}
		})
	}
}

// TestReplayRoles: the collaborators example with octocat's role raised through a team
// (role_name admin) while the permissions hash still shows the base role: the admin is
// counted from role_name.
func TestReplayRoles(t *testing.T) {
	var users []map[string]any
	if err := json.Unmarshal(loadReference(t).byID(t, "repos/list-collaborators").example("200", ""), &users); err != nil {
		t.Fatal(err)
	}
	users[0]["role_name"] = "admin"
	b, _ := json.Marshal(users)
	arts, _ := replayCollect(t, map[string]replayAnswer{"repos/list-collaborators": {http.StatusOK, b}})
	d := doc(t, arts, kindCollaborators, replayRepo)
	if admins, _ := d["admins"].([]any); len(admins) != 1 || admins[0] != "octocat" {
		t.Errorf("admins %v, want [octocat] from role_name", d["admins"])
	}
}

// TestReplayRecordedProtection: Octokit's recording of a branch protected with one
// approving review that dismisses stale ones, strict status check foo/bar, administrators
// included, no code-owner review and no signatures (as answered by PUT, the same resource
// GET returns), with no rulesets.
func TestReplayRecordedProtection(t *testing.T) {
	empty := replayAnswer{http.StatusOK, json.RawMessage(`[]`)}
	_, results := replayCollect(t, map[string]replayAnswer{
		"repos/get-branch-protection": recorded(t, "branch-protection-2.json"),
		"repos/get-repo-rulesets":     empty,
		"repos/get-branch-rules":      empty,
	})
	checkVerdicts(t, results, []replayVerdict{
		{rule: "github.repo.default_branch_reviews_required", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_stale_reviews_dismissed", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_code_owner_review", subject: replayRepo, want: controls.Fail},
		{rule: "github.repo.default_branch_status_checks", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_no_bypass", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_no_force_push_or_deletion", subject: replayRepo, want: controls.Pass},
		{rule: "github.repo.default_branch_signed_commits", subject: replayRepo, want: controls.Fail},
	})
}
