package controls

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/config"
)

var knownKinds = map[string]bool{"aws.iam.password_policy": true, "aws.iam.users": true, "aws.cloudtrail.trails": true}

// testConfig writes a config into a temp dir next to the test data and parses it.
func testConfig(t testing.TB, body string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	wd, _ := os.Getwd()
	for _, f := range []string{"soc2.framework.yaml", "extra.rules.yaml"} {
		data, err := os.ReadFile(filepath.Join(wd, "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "exhibit.yaml")
	cfg, err := config.Parse(file, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const fullControls = `controls:
  frameworks: [soc2.framework.yaml]
  rules: [extra.rules.yaml]
  freshness: 72h
  overrides:
    - rule: aws.iam.password_policy.min_length
      params: {min_length: 8}
  disabled:
    - rule: aws.iam.users.mfa
      justification: SSO only; no IAM console users.
  applicability:
    - framework: iso27001-2022
      control: A.7.4
      applicable: false
      justification: No own premises.
`

func TestEngineConfig(t *testing.T) {
	e, err := NewEngine(Options{Config: testConfig(t, fullControls), BuiltinRules: os.DirFS("testdata/rules"), KnownKinds: knownKinds})
	if err != nil {
		t.Fatal(err)
	}
	if e.Freshness != 72*time.Hour {
		t.Errorf("freshness %v", e.Freshness)
	}
	pp := e.Rules.Rule("aws.iam.password_policy.min_length")
	if !pp.Overridden || pp.Params["min_length"] != 8 || pp.DefaultParams["min_length"] != 14 {
		t.Errorf("override not applied: %+v / %+v", pp.Params, pp.DefaultParams)
	}
	res := e.Rules.Evaluate("aws.iam.password_policy", "aws:1", []byte(`{"PasswordPolicy":{"MinimumPasswordLength":9}}`), time.Now())
	if len(res) != 1 || res[0].Outcome != Pass || !strings.Contains(res[0].Detail(), "params.min_length = 8") {
		t.Errorf("overridden threshold not used: %+v", res)
	}
	mfa := e.Rules.Rule("aws.iam.users.mfa")
	if !mfa.Disabled || mfa.Justification == "" {
		t.Errorf("disabled rule: %+v", mfa)
	}
	if got := e.Rules.Evaluate("aws.iam.users", "aws:1", []byte(`{"users":[{"name":"a","mfa":false}]}`), time.Now()); len(got) != 0 {
		t.Errorf("disabled rule evaluated: %+v", got)
	}
	// SOC 2 CC6.1 maps to A.8.5, which both aws.iam rules prove; CC7.2 is proved directly.
	ids := func(rs []*Rule) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids(e.RulesFor("soc2-2017", "CC6.1")); got != "aws.iam.password_policy.min_length,aws.iam.users.mfa" {
		t.Errorf("CC6.1 rules: %s", got)
	}
	if got := ids(e.RulesFor("soc2-2017", "CC7.2")); got != "aws.cloudtrail.enabled" {
		t.Errorf("CC7.2 rules: %s", got)
	}
	if got := strings.Join(e.ControlsProvedBy("soc2-2017", "aws.iam.users.mfa"), ","); got != "CC6.1" {
		t.Errorf("ControlsProvedBy(soc2, mfa) = %q", got)
	}
	if got := strings.Join(e.ControlsProvedBy(ISO27001, "aws.iam.password_policy.min_length"), ","); got != "A.5.17,A.8.5" {
		t.Errorf("ControlsProvedBy(iso, min_length) = %q", got)
	}
	if a, ok := e.Applicability(ISO27001, "A.7.4"); !ok || a.Applicable {
		t.Errorf("applicability: %+v %v", a, ok)
	}
}

func TestEngineConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		kinds map[string]bool
		want  []string
	}{
		{"unknown rule in override", "controls:\n  overrides:\n    - rule: aws.nope\n      params: {x: 1}\n", nil,
			[]string{"exhibit.yaml:3:", `unknown rule "aws.nope"`}},
		{"unknown param in override", "controls:\n  overrides:\n    - rule: aws.iam.password_policy.min_length\n      params: {min_len: 1}\n", nil,
			[]string{"exhibit.yaml:4:", `has no parameter "min_len"`}},
		{"param type change", "controls:\n  overrides:\n    - rule: aws.iam.password_policy.min_length\n      params: {min_length: fourteen}\n", nil,
			[]string{"exhibit.yaml:4:", "is a number, not a string"}},
		{"unknown disabled rule", "controls:\n  disabled:\n    - rule: aws.nope\n      justification: x\n", nil,
			[]string{"exhibit.yaml:3:", `unknown rule "aws.nope"`}},
		{"unknown applicability control", "controls:\n  applicability:\n    - framework: iso27001-2022\n      control: A.9.9\n      applicable: true\n", nil,
			[]string{"exhibit.yaml:4:", `unknown control "A.9.9"`}},
		{"unknown applicability framework", "controls:\n  applicability:\n    - framework: soc3\n      control: A.9.9\n      applicable: true\n", nil,
			[]string{"exhibit.yaml:3:", `unknown framework "soc3"`}},
		{"missing rules file", "controls:\n  rules: [nope.yaml]\n", nil,
			[]string{"exhibit.yaml:2:", "could not read rules file"}},
		{"rule names a custom framework that is not loaded", "controls:\n  rules: [extra.rules.yaml]\n", nil,
			[]string{"extra.rules.yaml:10:", "rule aws.cloudtrail.enabled", `unknown framework "soc2-2017"`}},
		{"kind no connector emits", "controls:\n  frameworks: [soc2.framework.yaml]\n  rules: [extra.rules.yaml]\n",
			map[string]bool{"aws.iam.password_policy": true, "aws.iam.users": true},
			[]string{"extra.rules.yaml:3:", "rule aws.cloudtrail.enabled: kind aws.cloudtrail.trails is emitted by no connector", "aws.iam.users"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewEngine(Options{Config: testConfig(t, tc.body), BuiltinRules: os.DirFS("testdata/rules"), KnownKinds: tc.kinds})
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
}

func TestCustomFrameworkErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"unknown iso control", "version: 1\nid: x\ntitle: X\ncontrols:\n  - id: C1\n    title: c\n    maps_to: {iso27001-2022: [A.1.1]}\n",
			[]string{"fw.yaml:7:", "control C1", `unknown control "A.1.1"`}},
		{"unknown target framework", "version: 1\nid: x\ntitle: X\ncontrols:\n  - id: C1\n    title: c\n    maps_to: {soc9: [A]}\n",
			[]string{"fw.yaml:7:", `unknown framework "soc9"`}},
		{"clash with builtin", "version: 1\nid: bsi-gspp\ntitle: X\ncontrols:\n  - id: C1\n    title: c\n",
			[]string{"fw.yaml:2:", `framework "bsi-gspp" is already defined`}},
		{"duplicate control", "version: 1\nid: x\ntitle: X\ncontrols:\n  - id: C1\n    title: c\n  - id: C1\n    title: d\n",
			[]string{"fw.yaml:7:", `duplicate control id "C1"`}},
		{"missing title", "version: 1\nid: x\ntitle: X\ncontrols:\n  - id: C1\n",
			[]string{"fw.yaml:5:", "needs an id and a title"}},
		{"unknown key", "version: 1\nid: x\ntitle: X\ncontrol: []\n", []string{"fw.yaml:4:", `unknown key "control"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MustBuiltin().Clone().AddFramework("fw.yaml", []byte(tc.file))
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
}
