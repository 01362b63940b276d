package github

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/github/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
)

// generalDeviation says why a status the operation does not document may still be served,
// or "". These are answers GitHub gives to any request, documented once for the whole API
// rather than per operation; everything else undocumented fails the test.
func generalDeviation(op *refOperation, s served) string {
	body := string(s.Body)
	switch {
	case s.Status == http.StatusUnauthorized:
		return "401 Bad credentials: any request with a rejected token"
	case s.Status == http.StatusForbidden && strings.Contains(body, "rate limit"):
		return "403 primary or secondary rate limit: any request (rate limits page)"
	case s.Status == http.StatusForbidden && strings.Contains(body, "abuse detection"):
		return "403 abuse detection: the older secondary-limit answer"
	case s.Status == http.StatusForbidden && strings.Contains(body, "Resource not accessible by integration"):
		return "403 Resource not accessible by integration: a GitHub App without the permission"
	case s.Status == http.StatusTooManyRequests:
		return "429: secondary rate limit (rate limits page)"
	case s.Status >= 500:
		return "5xx: server errors of any request"
	case s.Status == http.StatusForbidden && strings.Contains(body, "Upgrade to GitHub Pro") &&
		(op.OperationID == "repos/get-branch-protection" || op.OperationID == "repos/get-repo-rulesets" || op.OperationID == "repos/get-branch-rules"):
		// The operation's description says protected branches are not available for
		// private repositories on the free plans, but documents no status for it.
		return "403 plan without the feature (private repository on a free plan)"
	case s.Status == http.StatusNotFound && op.OperationID == "orgs/get-audit-log":
		// Only the Enterprise Cloud description has the operation; elsewhere it does not
		// exist and GitHub gives its generic 404.
		return "404 audit log outside GitHub Enterprise Cloud"
	case s.Status == http.StatusNotFound && op.OperationID == "repos/get-branch-rules":
		return "404 GitHub Enterprise Server versions without the branch rules endpoint"
	}
	return ""
}

// descriptionScenarios are the simulated organisations, permission levels and fault modes
// whose every response must match GitHub's description.
func descriptionScenarios(t *testing.T) []struct {
	name   string
	opts   sim.Options
	app    bool
	faults []simkit.Fault
} {
	return []struct {
		name   string
		opts   sim.Options
		app    bool
		faults []simkit.Fault
	}{
		{name: "demo, read-only App access", opts: sim.Options{}},
		{name: "demo, write access to rulesets", opts: sim.Options{Access: sim.AccessWrite}},
		{name: "weak synthetic organisation", opts: sim.Options{Org: "weakcorp", Repos: 40, WeakOrg: true, Access: sim.AccessWrite}},
		{name: "plain member", opts: sim.Options{Org: "membercorp", Repos: 8, Access: sim.AccessMember}},
		{name: "free plan without Advanced Security", opts: sim.Options{Org: "freecorp", Repos: 12, Plan: "free", NoAdvancedSecurity: true}},
		{name: "team plan, server without branch rules", opts: sim.Options{Org: "teamcorp", Repos: 12, Plan: "team", NoBranchRules: true}},
		{name: "GitHub App", opts: sim.Options{Org: "appcorp", Repos: 5, App: &sim.App{ID: 4242, InstallationID: 99, PublicKey: &testAppKey(t).PublicKey}}, app: true},
		{name: "faults", opts: sim.Options{Org: "faultcorp", Repos: 10}, faults: []simkit.Fault{
			sim.SecondaryLimit("/collaborators$", 2*time.Second, 2),
			sim.Abuse("/rulesets$", 1),
			sim.BadGateway("/orgs/faultcorp/hooks$", 1),
			sim.NotAccessible("/vulnerability-alerts$", 3),
			{Path: "/orgs/faultcorp/outside_collaborators$", Kind: simkit.Throttle, RetryAfter: time.Second, Times: 1},
			{Path: "/actions/permissions/workflow$", Kind: simkit.ServerError, Status: http.StatusServiceUnavailable, Times: 5},
		}},
	}
}

// TestSimulatorAgainstDescription collects every scenario through the real connector and
// validates each response the simulator served against GitHub's REST API description:
// the operation exists, the status is documented for it (or is one of the general answers
// above), and the body matches the status's schema. It also checks the fields the
// description makes conditional.
func TestSimulatorAgainstDescription(t *testing.T) {
	ref := loadReference(t)
	for _, sc := range descriptionScenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			log := &servedLog{}
			e := startSimWrapped(t, sc.opts, log.record)
			if len(sc.faults) > 0 {
				e.sim.Harness().SetFaults(sc.faults...)
			}
			settings := e.settings()
			if sc.app {
				settings = strings.Replace(settings, "token_env: GH_TOKEN\n", "app: {app_id: 4242, installation_id: 99, private_key_env: GH_APP_KEY}\n", 1)
			}
			collect(t, e.connector(t, settings, connector.Limits{MaxRetryAfter: time.Hour}))
			if len(log.list) == 0 {
				t.Fatal("nothing served")
			}
			// One report per operation and status: the first problem and how often.
			type problem struct {
				first string
				count int
			}
			problems := map[string]*problem{}
			var order []string
			for _, s := range log.list {
				if p := ref.validateServed(s, generalDeviation); p != "" {
					key := s.Method + " " + templateOf(ref, s) + " " + strconv.Itoa(s.Status)
					if problems[key] == nil {
						problems[key] = &problem{first: p}
						order = append(order, key)
					}
					problems[key].count++
				}
				checkConditionalFields(t, sc.opts, s)
			}
			for _, k := range order {
				t.Errorf("%s: %d responses, first: %s", k, problems[k].count, problems[k].first)
			}
		})
	}
}

func templateOf(ref *reference, s served) string {
	if op := ref.operation(s.Method, s.Path); op != nil {
		return op.Path
	}
	return s.Path
}

// checkConditionalFields holds the simulator to the fields the description returns only to
// some callers.
func checkConditionalFields(t *testing.T, opts sim.Options, s served) {
	t.Helper()
	if s.Status != http.StatusOK {
		return
	}
	var body any
	if err := json.Unmarshal(s.Body, &body); err != nil {
		return
	}
	owner := opts.Access != sim.AccessMember
	switch {
	case templateRegexp("/orgs/{org}").MatchString(s.Path):
		// orgs/get: "To see the full details about an organization, the authenticated user
		// must be an organization owner."
		if _, has := body.(map[string]any)["two_factor_requirement_enabled"]; has != owner {
			t.Errorf("%s: two_factor_requirement_enabled returned %v to %q access", s.Path, has, opts.Access)
		}
	case templateRegexp("/orgs/{org}/repos").MatchString(s.Path):
		// repos/list-for-org: security_and_analysis only for admins, owners and security managers.
		for _, r := range body.([]any) {
			if _, has := r.(map[string]any)["security_and_analysis"]; has != owner {
				t.Errorf("%s: security_and_analysis returned %v to %q access", s.Path, has, opts.Access)
				break
			}
		}
	}
	if !strings.Contains(s.Path, "/rulesets/") {
		return
	}
	// repos/get-repo-ruleset: "the bypass_actors property is only returned if the user
	// making the API request has write access to the ruleset".
	var rs map[string]json.RawMessage
	if err := json.Unmarshal(s.Body, &rs); err != nil {
		t.Errorf("%s: %v", s.Path, err)
		return
	}
	_, has := rs["bypass_actors"]
	if write := opts.Access == sim.AccessWrite; has != write {
		t.Errorf("%s: bypass_actors returned %v with %q access to rulesets", s.Path, has, opts.Access)
	}
}

// TestPermissionsAgainstDescription holds the declared credentials to what GitHub's
// description says per operation: every call a kind declares is an operation of the
// description, enabled for GitHub Apps; the classic scopes a kind declares include those
// its operations' descriptions name (one of them where the description offers a choice);
// and every operation of the extract is called by some kind (the extract is exactly what
// the connector calls, plus the App's token exchange).
func TestPermissionsAgainstDescription(t *testing.T) {
	ref := loadReference(t)
	called := map[string]bool{"apps/create-installation-access-token": true}
	for _, k := range kinds {
		for _, ep := range k.Endpoints {
			method, rest, _ := strings.Cut(ep, " ")
			path := rest
			if i := strings.IndexAny(path, "? "); i >= 0 {
				path = path[:i]
			}
			op := ref.operation(method, path)
			if op == nil {
				t.Errorf("%s: %s is not an operation of the reference extract", k.Name, ep)
				continue
			}
			called[op.OperationID] = true
			if !op.XGitHub.EnabledForGitHubApps {
				t.Errorf("%s: %s (%s) is not enabled for GitHub Apps", k.Name, ep, op.OperationID)
			}
			sc := op.ClassicTokenScopes
			if sc == nil {
				continue
			}
			for _, s := range sc.AllOf {
				if !slices.Contains(k.ClassicScopes, s) {
					t.Errorf("%s: %s needs classic scope %s (%q), declared %v", k.Name, op.OperationID, s, sc.Sentence, k.ClassicScopes)
				}
			}
			if len(sc.AnyOf) > 0 && !slices.ContainsFunc(sc.AnyOf, func(s string) bool { return slices.Contains(k.ClassicScopes, s) }) {
				t.Errorf("%s: %s needs one of the classic scopes %v (%q), declared %v", k.Name, op.OperationID, sc.AnyOf, sc.Sentence, k.ClassicScopes)
			}
		}
	}
	for _, op := range ref.ops {
		if !called[op.OperationID] {
			t.Errorf("the reference extract has %s %s (%s), which no kind declares", op.Method, op.Path, op.OperationID)
		}
	}
}
