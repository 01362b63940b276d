package controls

import (
	"os"
	"strings"
	"testing"
	"time"
)

// ruleFile wraps rule YAML (indented as a list item) in a rules file.
func ruleFile(rules string) []byte {
	return []byte("version: 1\nrules:\n" + rules)
}

const goodRule = `  - id: aws.iam.password_policy.min_length
    version: 1
    kind: aws.iam.password_policy
    title: t
    severity: low
    params: {min_length: 14}
    expr: document.MinimumPasswordLength >= params.min_length
    controls: {iso27001-2022: [A.5.17]}
`

func TestParseRulesErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // substrings of the error
	}{
		{"unknown control", strings.Replace(goodRule, "A.5.17", "A.5.99", 1),
			[]string{"x.yaml:10:", "rule aws.iam.password_policy.min_length", `unknown control "A.5.99"`}},
		{"unknown framework", strings.Replace(goodRule, "iso27001-2022", "iso27001-2013", 1),
			[]string{"x.yaml:10:", `unknown framework "iso27001-2013"`}},
		{"group is not a control", strings.Replace(goodRule, "{iso27001-2022: [A.5.17]}", "{bsi-gspp: [GC.1]}", 1),
			[]string{"x.yaml:10:", `"GC.1" is a group`}},
		{"cel syntax error", strings.Replace(goodRule, ">= params.min_length", ">= >= 3", 1),
			[]string{"x.yaml:9:", "rule aws.iam.password_policy.min_length", "expr:", "Syntax error"}},
		{"expr not bool", strings.Replace(goodRule, "document.MinimumPasswordLength >= params.min_length", "params.min_length + 1", 1),
			[]string{"x.yaml:9:", "expr: must evaluate to bool"}},
		{"type error on now", strings.Replace(goodRule, "document.MinimumPasswordLength >= params.min_length", "now > 3", 1),
			[]string{"x.yaml:9:", "found no matching overload"}},
		{"failing not a list", goodRule + "    failing: document.x == 1\n",
			[]string{"x.yaml:11:", "failing: must evaluate to list"}},
		{"undeclared param", strings.Replace(goodRule, "{min_length: 14}", "{min: 14}", 1),
			[]string{"x.yaml:8:", "params.min_length, which params does not declare"}},
		{"duplicate id", goodRule + goodRule,
			[]string{"x.yaml:11:", "duplicate id (first defined at x.yaml:3)"}},
		{"missing fields", "  - id: aws.x.y\n    kind: aws.x\n    expr: true\n    controls: {iso27001-2022: [A.5.1]}\n",
			[]string{"x.yaml:3:", "rule aws.x.y: version is required", "title is required", `severity "" must be one of`}},
		{"id of another connector", strings.Replace(goodRule, "id: aws.iam", "id: github.iam", 1),
			[]string{"x.yaml:3:", `id must start with "aws."`}},
		{"unknown key", goodRule + "    expresion: true\n",
			[]string{"x.yaml:11:", `unknown key "expresion" in rule aws.iam.password_policy.min_length`}},
		{"no controls", strings.Replace(goodRule, "    controls: {iso27001-2022: [A.5.17]}\n", "", 1),
			[]string{"controls is required"}},
		{"multi-line expr error line", strings.Replace(goodRule, "    expr: document.MinimumPasswordLength >= params.min_length\n",
			"    expr: |\n      document.a == 1 &&\n      document.b === 2\n", 1),
			[]string{"x.yaml:11:", "expr:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules("x.yaml", ruleFile(tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	for name, file := range map[string]string{
		"no version":  "rules: []\n",
		"bad version": "version: 2\nrules: []\n",
		"not a list":  "version: 1\nrules: {}\n",
		"top typo":    "version: 1\nrule: []\n",
		"empty":       "",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseRules("x.yaml", []byte(file)); err == nil || !strings.HasPrefix(err.Error(), "x.yaml") {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
}

func TestParseRulesDerivesGSPP(t *testing.T) {
	data, err := os.ReadFile("testdata/good.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules("testdata/good.rules.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Rule("aws.iam.password_policy.min_length")
	if !r.Derived[BSIGSPP] || len(r.Controls[BSIGSPP]) == 0 {
		t.Errorf("bsi-gspp not derived: %v", r.Controls)
	}
	m := rs.Rule("aws.iam.users.mfa")
	if m.Derived[BSIGSPP] || strings.Join(m.Controls[BSIGSPP], ",") != "SENS.4.1" {
		t.Errorf("explicit bsi-gspp mapping changed: %v derived=%v", m.Controls, m.Derived)
	}
}

func TestEvaluate(t *testing.T) {
	data, err := os.ReadFile("testdata/good.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules("testdata/good.rules.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		kind        string
		doc         string
		want        Outcome
		wantDetail  string // substring of Result.Detail()
		wantFailing string
	}{
		{"pass", "aws.iam.password_policy", `{"PasswordPolicy":{"MinimumPasswordLength":14}}`, Pass,
			"document.PasswordPolicy.MinimumPasswordLength = 14; params.min_length = 14", ""},
		{"fail records values", "aws.iam.password_policy", `{"PasswordPolicy":{"MinimumPasswordLength":8}}`, Fail,
			"document.PasswordPolicy.MinimumPasswordLength = 8; params.min_length = 14", ""},
		{"float compares with int param", "aws.iam.password_policy", `{"PasswordPolicy":{"MinimumPasswordLength":14.5}}`, Pass, "= 14.5", ""},
		{"missing field is an error", "aws.iam.password_policy", `{"PasswordPolicy":{}}`, Error,
			"no such key: MinimumPasswordLength", ""},
		{"wrong type is an error", "aws.iam.password_policy", `{"PasswordPolicy":{"MinimumPasswordLength":"14"}}`, Error,
			"no such overload", ""},
		{"invalid json is an error", "aws.iam.password_policy", `{"PasswordPolicy":`, Error, "not valid JSON", ""},
		{"not applicable", "aws.iam.users", `{"users":[]}`, NotApplicable, "document.users = []", ""},
		{"failing items", "aws.iam.users", `{"users":[{"name":"alice","mfa":true},{"name":"bob","mfa":false}]}`, Fail,
			"failing: bob", "bob"},
		{"all mfa", "aws.iam.users", `{"users":[{"name":"alice","mfa":true}]}`, Pass, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := rs.Evaluate(tc.kind, "aws:1:eu-central-1", []byte(tc.doc), now)
			if len(res) != 1 {
				t.Fatalf("%d results, want 1", len(res))
			}
			r := res[0]
			if r.Outcome != tc.want {
				t.Fatalf("outcome %s (%s), want %s", r.Outcome, r.Detail(), tc.want)
			}
			if !strings.Contains(r.Detail(), tc.wantDetail) {
				t.Errorf("detail %q does not contain %q", r.Detail(), tc.wantDetail)
			}
			if strings.Join(r.Failing, ",") != tc.wantFailing {
				t.Errorf("failing %v, want %q", r.Failing, tc.wantFailing)
			}
			if r.Document.IsZero() || r.Version == 0 || r.Subject != "aws:1:eu-central-1" {
				t.Errorf("result lacks provenance: %+v", r)
			}
		})
	}
	if got := rs.Evaluate("aws.s3.buckets", "s", []byte(`{}`), now); len(got) != 0 {
		t.Errorf("results for a kind without rules: %v", got)
	}
}

func TestEvaluateVariables(t *testing.T) {
	rs, err := ParseRules("v.yaml", ruleFile(`  - id: github.repo.age
    version: 1
    kind: github.repo.settings
    title: t
    severity: low
    params: {max_age: 720h, names: [a, b]}
    expr: >-
      now - timestamp(document.pushed_at) < duration(params.max_age) &&
      kind == "github.repo.settings" && subject.startsWith("github:") &&
      document.?archived.orValue(false) == false && has(document.name) &&
      document.topics[0] in params.names
    controls: {iso27001-2022: [A.8.32]}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	res := rs.Evaluate("github.repo.settings", "github:acme/x", []byte(`{"name":"x","pushed_at":"2026-11-20T00:00:00Z","topics":["a"]}`), now)
	if len(res) != 1 || res[0].Outcome != Pass {
		t.Fatalf("got %+v", res)
	}
	got := res[0].Detail()
	for _, w := range []string{`document.pushed_at = "2026-11-20T00:00:00Z"`, "document.name = present", `document.topics[0] = "a"`, `document.archived = absent`, `params.max_age = "720h"`} {
		if !strings.Contains(got, w) {
			t.Errorf("detail %q lacks %q", got, w)
		}
	}
	res = rs.Evaluate("github.repo.settings", "github:acme/x", []byte(`{"name":"x","pushed_at":"2026-01-01T00:00:00Z","topics":["a"]}`), now)
	if res[0].Outcome != Fail {
		t.Errorf("old push: %s", res[0].Outcome)
	}
}

// TestParseRulesAcceptsTypedFailingLists guards the direction of the type check: a failing
// expression of a concrete list type (list(string)) is a list, as list(dyn) is.
func TestParseRulesAcceptsTypedFailingLists(t *testing.T) {
	for name, failing := range map[string]string{
		"list(dyn)":    `[document.x]`,
		"list(string)": `["a", "b"].filter(s, s != string(document.x))`,
		"list(int)":    `[1, 2].filter(i, i > 1)`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseRules("x.yaml", ruleFile(goodRule+"    failing: '"+failing+"'\n")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseRulesRationale(t *testing.T) {
	file := strings.Replace(goodRule, "controls: {iso27001-2022: [A.5.17]}",
		"controls:\n      iso27001-2022:\n        A.5.17: the policy enforces the quality of passwords\n        A.8.5: length slows guessing", 1)
	rs, err := ParseRules("x.yaml", ruleFile(file))
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Rules()[0]
	if got := strings.Join(r.Controls["iso27001-2022"], ","); got != "A.5.17,A.8.5" {
		t.Errorf("controls = %s, want the mapping's keys in file order", got)
	}
	if got := r.Rationale["iso27001-2022"]["A.5.17"]; got != "the policy enforces the quality of passwords" {
		t.Errorf("rationale = %q", got)
	}
	if !r.Derived["bsi-gspp"] || len(r.Rationale["bsi-gspp"]) == 0 {
		t.Fatalf("derived Grundschutz++ mapping has no rationale: %v", r.Rationale)
	}
	for id, why := range r.Rationale["bsi-gspp"] {
		if !strings.HasPrefix(why, "A.5.17: ") && !strings.HasPrefix(why, "A.8.5: ") {
			t.Errorf("derived rationale of %s = %q, want it to name the ISO control", id, why)
		}
	}
	bad := strings.Replace(goodRule, "controls: {iso27001-2022: [A.5.17]}",
		"controls:\n      iso27001-2022:\n        A.5.17: [not, text]", 1)
	if _, err := ParseRules("x.yaml", ruleFile(bad)); err == nil || !strings.Contains(err.Error(), "one line of text") {
		t.Errorf("a rationale that is not text: err = %v", err)
	}
}

func TestMissingRationale(t *testing.T) {
	tests := []struct {
		name, controls string
		want           []string
	}{
		{"list form", "controls: {iso27001-2022: [A.5.17, A.8.5]}",
			[]string{"x.yaml:3: rule aws.iam.password_policy.min_length: iso27001-2022 A.5.17 has no rationale",
				"x.yaml:3: rule aws.iam.password_policy.min_length: iso27001-2022 A.8.5 has no rationale"}},
		{"every mapping explained", "controls:\n      iso27001-2022:\n        A.5.17: the policy sets how passwords are formed", nil},
		{"an empty rationale", "controls:\n      iso27001-2022:\n        A.5.17: the policy sets how passwords are formed\n        A.8.5:",
			[]string{"x.yaml:3: rule aws.iam.password_policy.min_length: iso27001-2022 A.8.5 has no rationale"}},
		{"a written Grundschutz++ list", "controls:\n      iso27001-2022:\n        A.5.17: the policy sets how passwords are formed\n      bsi-gspp: [GC.8.1]",
			[]string{"x.yaml:3: rule aws.iam.password_policy.min_length: bsi-gspp GC.8.1 has no rationale"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ParseRules("x.yaml", ruleFile(strings.Replace(goodRule, "controls: {iso27001-2022: [A.5.17]}", tt.controls, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if got := MissingRationale(rs); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("MissingRationale =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
