package connectortest

import (
	"os"
	"strings"
	"testing"
)

func readRules(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/rulecases/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRuleCases runs a table that covers every outcome, parameter overrides, a JSON-text
// document, a per-case clock and an outcome exemption.
func TestRuleCases(t *testing.T) {
	RuleCases(t, readRules(t), "testdata/rulecases/good.yaml")
}

// TestRuleCasesWrongVerdict checks that a case whose verdict the engine does not give is
// reported with the values that decided it, and that a right case is not.
func TestRuleCasesWrongVerdict(t *testing.T) {
	data, err := os.ReadFile("testdata/rulecases/wrong.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := loadRuleCases(readRules(t), "wrong.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.cases) != 2 {
		t.Fatalf("%d cases, want 2", len(tbl.cases))
	}
	msg := tbl.check(tbl.cases[0])
	for _, want := range []string{"got fail, want pass", "failing: bob", "document.users = "} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if msg := tbl.check(tbl.cases[1]); msg != "" {
		t.Errorf("right case reported: %s", msg)
	}
	if cov := tbl.coverage(); len(cov) != 0 {
		t.Errorf("fully exempted table: %q", cov)
	}
}

// TestRuleCasesCoverage checks the demand for pass, fail and not_applicable cases and that
// exemptions which waive nothing are reported.
func TestRuleCasesCoverage(t *testing.T) {
	head := "cases:\n" +
		"  - {rule: example.users.mfa, name: p, source: hand-made, document: {users: [{name: a, mfa: true}]}, want: pass}\n" +
		"  - {rule: example.users.mfa, name: f, source: hand-made, document: {users: [{name: a, mfa: false}]}, want: fail}\n"
	na := "  - {rule: example.users.mfa, name: n, source: hand-made, document: {users: []}, want: not_applicable}\n"
	others := "  example.password.min_length: elsewhere\n  example.key.age: elsewhere\n"
	tests := []struct {
		name, file string
		want       []string
	}{
		{"missing outcomes", head + "exempt:\n  example.key.age: elsewhere\n", []string{
			"rules.yaml:3: rule example.password.min_length has no pass, no fail, no not_applicable case in c.yaml",
			"rules.yaml:13: rule example.users.mfa has no not_applicable case in c.yaml",
		}},
		{"outcome exempted", head + "exempt:\n" + others + "  example.users.mfa: {not_applicable: reason}\n", nil},
		{"whole rule exempted", head + "exempt:\n" + others + "  example.users.mfa: reason\n", nil},
		{"stale outcome exemption", head + na + "exempt:\n" + others + "  example.users.mfa: {not_applicable: reason}\n", []string{
			"c.yaml:8: exempt.example.users.mfa waives not_applicable, but the rule has such cases now: remove it",
		}},
		{"stale rule exemption", head + na + "exempt:\n" + others + "  example.users.mfa: reason\n", []string{
			"c.yaml:8: exempt.example.users.mfa waives pass, fail, not_applicable, but the rule has such cases now",
		}},
		{"partial rule exemption is not stale", head + "exempt:\n" + others + "  example.users.mfa: no empty list\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := loadRuleCases(readRules(t), "c.yaml", []byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := tbl.coverage()
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %d messages %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("message %d:\n got %s\nwant %s…", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestRuleCasesBadFile checks that every kind of mistake in a cases file is an error that
// names the file and line.
func TestRuleCasesBadFile(t *testing.T) {
	ok := "source: s, document: {}, want: pass"
	tests := []struct{ name, file, want string }{
		{"not yaml", "cases: [", "c.yaml: line 1: did not find expected node content"},
		{"empty", "", "c.yaml: empty file"},
		{"not a mapping", "- 1\n", "c.yaml:1: want a mapping"},
		{"unknown top key", "cases: []\nrules: []\n", `c.yaml:2: unknown key "rules" in the rule cases file`},
		{"no cases", "exempt: {}\n", "c.yaml:1: no cases: list"},
		{"cases not a list", "cases: {}\n", "c.yaml:1: cases must be a list"},
		{"case not a mapping", "cases:\n  - x\n", "c.yaml:2: cases[0] must be a mapping"},
		{"unknown case key", "cases:\n  - {rule: example.users.mfa, name: n, " + ok + ", expect: fail}\n", `c.yaml:2: unknown key "expect" in cases[0]`},
		{"duplicate case key", "cases:\n  - rule: example.users.mfa\n    rule: example.users.mfa\n", `c.yaml:3: duplicate key "rule" (first at line 2)`},
		{"unknown rule", "cases:\n  - {name: n, " + ok + ",\n     rule: example.users.mfaa}\n", `c.yaml:3: cases[0] (rule example.users.mfaa): unknown rule id "example.users.mfaa" (rules with that prefix: example.users.mfa)`},
		{"no rule", "cases:\n  - {name: n, " + ok + "}\n", "c.yaml:2: cases[0] has no rule"},
		{"no name", "cases:\n  - {rule: example.users.mfa, " + ok + "}\n", "c.yaml:2: cases[0] (rule example.users.mfa) has no name"},
		{"no source", "cases:\n  - {rule: example.users.mfa, name: n, document: {}, want: pass}\n", "has no source"},
		{"empty source", "cases:\n  - {rule: example.users.mfa, name: n, source: '', document: {}, want: pass}\n", "cases[0] (rule example.users.mfa).source is empty"},
		{"no want", "cases:\n  - {rule: example.users.mfa, name: n, source: s, document: {}}\n", "has no want"},
		{"bad want", "cases:\n  - {rule: example.users.mfa, name: n, source: s, document: {}, want: no_evidence}\n", `c.yaml:2: cases[0] (rule example.users.mfa).want is "no_evidence" (want pass, fail, not_applicable or error)`},
		{"no document", "cases:\n  - {rule: example.users.mfa, name: n, source: s, want: pass}\n", "has no document"},
		{"scalar document", "cases:\n  - {rule: example.users.mfa, name: n, source: s, want: pass, document: 3}\n", "document: want a mapping or a list"},
		{"string not json", "cases:\n  - {rule: example.users.mfa, name: n, source: s, want: pass, document: '{users: []}'}\n", "a string document must be JSON text"},
		{"duplicate document key", "cases:\n  - rule: example.users.mfa\n    name: n\n    source: s\n    want: pass\n    document:\n      users: []\n      users: [1]\n", `c.yaml:7: cases[0] (rule example.users.mfa).document: line 8: duplicate key "users" (first at line 7)`},
		{"infinite number", "cases:\n  - {rule: example.users.mfa, name: n, source: s, want: pass, document: {x: .inf}}\n", ".inf is not a JSON number"},
		{"bad now", "cases:\n  - {rule: example.users.mfa, name: n, " + ok + ", now: yesterday}\n", `now "yesterday" is not an RFC 3339 time`},
		{"unknown param", "cases:\n  - {rule: example.password.min_length, name: n, " + ok + ", params: {min: 3}}\n", `rule example.password.min_length has no parameter "min" (it has: min_length)`},
		{"param of another type", "cases:\n  - {rule: example.password.min_length, name: n, " + ok + ", params: {min_length: '3'}}\n", "parameter min_length is a number, not a string"},
		{"duplicate case", "cases:\n  - {rule: example.users.mfa, name: n, " + ok + "}\n  - {rule: example.users.mfa, name: n, " + ok + "}\n", `c.yaml:3: rule example.users.mfa has two cases named "n" (the first at line 2)`},
		{"exempt unknown rule", "cases: []\nexempt:\n  example.nope: reason\n", `c.yaml:3: exempt: unknown rule id "example.nope"`},
		{"exempt without reason", "cases: []\nexempt:\n  example.users.mfa: ''\n", "c.yaml:3: exempt.example.users.mfa needs a reason"},
		{"exempt unknown outcome", "cases: []\nexempt:\n  example.users.mfa: {error: reason}\n", `c.yaml:3: unknown key "error" in exempt.example.users.mfa`},
		{"exempt outcome without reason", "cases: []\nexempt:\n  example.users.mfa: {pass: }\n", "c.yaml:3: exempt.example.users.mfa.pass needs a reason"},
		{"all problems at once", "cases:\n  - {rule: x, name: n, " + ok + "}\n  - {rule: y, name: n, " + ok + "}\n", `unknown rule id "x"` + "\n" + `c.yaml:3: cases[1] (rule y): unknown rule id "y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadRuleCases(readRules(t), "c.yaml", []byte(tt.file))
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

// TestRuleCasesBadRules checks that a rules file the engine refuses is reported as such.
func TestRuleCasesBadRules(t *testing.T) {
	_, err := loadRuleCases([]byte("version: 1\nrules:\n  - id: x\n"), "c.yaml", []byte("cases: []\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "rules: rules.yaml:3:") {
		t.Errorf("got %v, want the engine's error about rules.yaml:3", err)
	}
}
