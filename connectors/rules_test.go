package connectors

import (
	"io/fs"
	"testing"

	"github.com/exhibit-dev/exhibit/core/controls"
)

// TestRulesCompile parses, compiles and type-checks every shipped rules file, so a broken
// rule fails here with its file, line and id rather than at start-up.
func TestRulesCompile(t *testing.T) {
	files, err := fs.Glob(Rules, "*/rules.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules files embedded (%v)", err)
	}
	eng, err := controls.NewEngine(controls.Options{BuiltinRules: Rules})
	if err != nil {
		t.Fatal(err)
	}
	if eng.Rules.Len() == 0 {
		t.Fatal("no rules loaded")
	}
	for _, r := range eng.Rules.Rules() {
		if len(r.Controls[controls.ISO27001]) == 0 {
			t.Errorf("%s:%d: rule %s maps to no ISO/IEC 27001:2022 control", r.File, r.Line, r.ID)
		}
	}
	t.Logf("%d rules over %d kinds from %v", eng.Rules.Len(), len(eng.Rules.Kinds()), files)
}

// TestShippedRulesExplainTheirMappings: every mapping of a shipped rule to a control says
// why the rule's evidence shows that control operating. User rules may leave it out.
func TestShippedRulesExplainTheirMappings(t *testing.T) {
	eng, err := controls.NewEngine(controls.Options{BuiltinRules: Rules})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range controls.MissingRationale(eng.Rules) {
		t.Error(p)
	}
}
