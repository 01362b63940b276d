package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/core/diff"
)

// TestDiffAfterAChange runs the demo twice, the second time with the root user of AWS
// account 0 lacking MFA, its password policy removed and its backup plan gone, and checks
// that exhibit diff shows what changed and nothing else: the new failures, the documents
// with their fields, and the control that was effective and now fails (A.8.13 backup; A.5.17
// and A.8.5 were failing already in the demo, so they are no change).
func TestDiffAfterAChange(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo twice")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	cfg := filepath.Join(dir, "exhibit.yaml")
	if out, errOut, code := execExhibit(t, "demo", "--dir", dir); code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out, errOut)
	}

	// Unchanged evidence: nothing to report, exit 0 even with --exit-code... once there
	// are two runs.
	if _, errOut, code := execExhibit(t, "diff", "--config", cfg); code != 2 || !strings.Contains(errOut, "two sealed collection runs") {
		t.Errorf("diff with one run: exit %d, %s", code, errOut)
	}
	if out, errOut, code := execExhibit(t, "demo", "--dir", dir, "--aws-defect", "0:no_password_policy", "--aws-defect", "0:root_no_mfa", "--aws-defect", "0:no_backup_plan"); code != 0 {
		t.Fatalf("second demo exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code := execExhibit(t, "diff", "--config", cfg, "--format", "json", "--exit-code")
	if code != 1 {
		t.Fatalf("diff --exit-code after a change: exit %d, want 1\n%s", code, errOut)
	}
	var rep diffReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	failures := map[string]bool{}
	for _, v := range rep.Verdicts {
		if v.Change == diff.NewFailure {
			failures[v.Rule] = true
		}
		if v.Change == diff.Fixed || !strings.HasPrefix(v.Rule, "aws.") {
			t.Errorf("only AWS got worse, but %s %s is reported %s", v.Rule, v.Subject, v.Change)
		}
	}
	for _, rule := range []string{"aws.iam.password_policy.min_length", "aws.iam.root_mfa.enabled"} {
		if !failures[rule] {
			t.Errorf("new failure of %s not reported; verdicts: %+v", rule, rep.Verdicts)
		}
	}
	var kinds []string
	for _, d := range rep.Documents {
		kinds = append(kinds, d.Kind)
		if d.Kind == "aws.iam.password_policy" && (d.Fields == nil || len(d.Fields.Fields) == 0) {
			t.Errorf("the password policy document changed without field changes: %+v", d)
		}
		// github.rate_limit changes every run (a snapshot of the rate limit); nothing else may.
		if !strings.HasPrefix(d.Kind, "aws.") && d.Kind != "github.rate_limit" {
			t.Errorf("document %s %s reported changed, but only AWS changed", d.Kind, d.Subject)
		}
	}
	if len(kinds) == 0 {
		t.Error("no changed documents reported")
	}
	statusOf := map[string]diff.ControlChange{}
	for _, c := range rep.Controls {
		statusOf[c.Control] = c
	}
	if c, ok := statusOf["A.8.13"]; !ok || c.Old != "effective" || c.New != "failing" {
		t.Errorf("A.8.13 (information backup) should have gone from effective to failing: %+v\nall: %+v", c, rep.Controls)
	}
	for _, c := range rep.Controls {
		if c.Old == "failing" && c.New == "effective" {
			t.Errorf("control %s reported fixed", c.Control)
		}
	}

	// The same in the other formats, and a run compared with itself.
	table, _, code := execExhibit(t, "diff", "--config", cfg)
	if code != 0 || !strings.Contains(table, "new_failure") || !strings.Contains(table, "aws.iam.password_policy") {
		t.Errorf("table (exit %d):\n%s", code, table)
	}
	md, _, code := execExhibit(t, "diff", "--config", cfg, "--format", "markdown")
	if code != 0 || !strings.Contains(md, "### Verdicts") || !strings.Contains(md, "| new_failure |") {
		t.Errorf("markdown (exit %d):\n%s", code, md)
	}
	same, _, code := execExhibit(t, "diff", "--config", cfg, rep.To.ID, rep.To.ID, "--exit-code")
	if code != 0 || !strings.Contains(same, "nothing changed") {
		t.Errorf("a run with itself (exit %d):\n%s", code, same)
	}
	if _, errOut, code := execExhibit(t, "diff", "--config", cfg, "--format", "yaml"); code != 2 || !strings.Contains(errOut, "--format") {
		t.Errorf("bad format: exit %d %s", code, errOut)
	}
}
