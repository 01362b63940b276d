package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	fsstore "github.com/exhibit-dev/exhibit/evidence/store/fs"
)

const controlsTestRules = `version: 1
rules:
  - id: selftest.password.length
    version: 1
    kind: selftest.password
    title: Passwords are long
    severity: medium
    params: {min: 14}
    expr: document.length >= params.min
    controls: {iso27001-2022: [A.5.17]}
  - id: selftest.password.reuse
    version: 1
    kind: selftest.password
    title: Passwords are not reused
    severity: low
    applies: has(document.reuse)
    expr: document.reuse >= 24
    controls:
      iso27001-2022:
        A.5.17: Reuse prevention keeps authentication information from coming back after it was changed.
`

// controlsTestConfig writes a config with an extra rules file and returns its path.
func controlsTestConfig(t *testing.T, extra string) string {
	t.Helper()
	anyRuleKinds(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "test.rules.yaml"), []byte(controlsTestRules), 0o644); err != nil {
		t.Fatal(err)
	}
	body := "data_dir: " + filepath.Join(dir, "data") + `
controls:
  rules: [test.rules.yaml]
  applicability:
    - framework: iso27001-2022
      control: A.7.4
      applicable: false
      justification: No own premises.
` + extra
	file := filepath.Join(dir, "exhibit.yaml")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// seedCollection seals and indexes a collection run with one password document, as the
// runner would, evaluated with the config's rules. The document comes from a connector type
// no shipped rule judges, so only the test's rules are in scope.
func seedCollection(t *testing.T, cfgFile string, length int) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := newControlsEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := fsstore.OpenRepo(cfg.StoreDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := sign.LoadOrGenerate(cfg.KeyDir())
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(ctx, cfg.IndexPath())
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	now := time.Now().UTC().Add(-time.Hour)
	ref, err := store.PutBytes(ctx, repo.Objects, []byte(`{"length":`+strconv.Itoa(length)+`}`), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	env := evidence.Envelope{Kind: "selftest.password", Subject: "selftest:1", Status: evidence.StatusOK, Document: &ref,
		Connector: evidence.ConnectorRef{Instance: "selftest-1", Type: "selftest", Version: "1"}, CollectedAt: now}
	b, err := manifest.NewBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Add(env); err != nil {
		t.Fatal(err)
	}
	id := now.Format("20060102T150405Z") + "-" + strconv.Itoa(length)
	res, err := eng.Evaluate(ctx, repo.Objects, id, b.Envelopes)
	if err != nil {
		t.Fatal(err)
	}
	s, err := manifest.Seal(ctx, repo, signer, manifest.Header{ID: id, Type: manifest.TypeCollection, StartedAt: now,
		EndedAt: now.Add(time.Minute), Outcome: manifest.OutcomeComplete, Results: res}, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.AddArtefacts(ctx, id, 0, []evidence.Envelope{env}); err != nil {
		t.Fatal(err)
	}
	if err := ix.RecordRun(ctx, repo.Objects, s); err != nil {
		t.Fatal(err)
	}
	return id
}

// statusRows runs controls status --format csv and returns the rows by control id.
func statusRows(t *testing.T, cfg string, args ...string) map[string]map[string]string {
	t.Helper()
	out, errOut, code := execExhibit(t, append([]string{"--config", cfg, "controls", "status", "--format", "csv"}, args...)...)
	if code != 0 {
		t.Fatalf("controls status: exit %d: %s", code, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]map[string]string{}
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		rows[m["control"]] = m
	}
	return rows
}

func TestControlsCommands(t *testing.T) {
	cfg := controlsTestConfig(t, "")
	policy := filepath.Join(t.TempDir(), "Leitlinie.pdf")
	if err := os.WriteFile(policy, []byte("%PDF-1.7 policy"), 0o644); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	out, errOut, code := execExhibit(t, "--config", cfg, "evidence", "add", "--file", policy, "--kind", "policy",
		"--control", "A.5.1", "--control", "bsi-gspp:GC.1.1", "--effective-date", "2026-01-01", "--note", "board")
	if code != 0 || !strings.Contains(out, "added Leitlinie.pdf as manual.policy evidence") {
		t.Fatalf("evidence add: exit %d: %s %s", code, out, errOut)
	}
	run := seedCollection(t, cfg, 8)

	rows := statusRows(t, cfg, "--from", "2026-01-01", "--to", today)
	for ctl, want := range map[string]string{"A.5.1": "attested", "A.5.17": "failing", "A.7.4": "not_applicable", "A.5.2": "no_evidence"} {
		if got := rows[ctl]["status"]; got != want {
			t.Errorf("%s: status %q, want %q (%v)", ctl, got, want, rows[ctl])
		}
	}
	if len(rows) != 93 {
		t.Errorf("%d controls in the status, want 93", len(rows))
	}
	if !strings.Contains(rows["A.5.17"]["detail"], "document.length = 8") {
		t.Errorf("detail lacks the decisive value: %q", rows["A.5.17"]["detail"])
	}

	table, _, code := execExhibit(t, "--config", cfg, "controls", "status", "--from", "2026-01-01", "--control", "A.5.17")
	if code != 0 || !regexp.MustCompile(`(?m)^A\.5\.17 +failing +Authentication information +selftest.password.length failed in 1 of 1 run\b`).MatchString(table) {
		t.Errorf("table:\n%s", table)
	}

	soa := filepath.Join(t.TempDir(), "soa.csv")
	if _, errOut, code := execExhibit(t, "--config", cfg, "controls", "soa", "-o", soa); code != 0 {
		t.Fatalf("soa: exit %d: %s", code, errOut)
	}
	f, err := os.Open(soa)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 94 {
		t.Fatalf("SoA has %d rows, want 93 controls + header", len(recs))
	}
	for _, r := range recs {
		if r[0] == "A.7.4" && (r[4] != "no" || r[5] != "No own premises.") {
			t.Errorf("A.7.4 in the SoA: %v", r)
		}
		if r[0] == "A.5.1" && !strings.Contains(r[9], "Leitlinie.pdf") {
			t.Errorf("A.5.1 in the SoA lacks its manual evidence: %v", r)
		}
	}

	// New threshold in the config, then re-evaluate: the old evidence now passes.
	cfg2 := filepath.Join(filepath.Dir(cfg), "exhibit2.yaml")
	data, _ := os.ReadFile(cfg)
	data = append(data, "  overrides:\n    - rule: selftest.password.length\n      params: {min: 8}\n"...)
	if err := os.WriteFile(cfg2, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = execExhibit(t, "--config", cfg2, "controls", "evaluate", "--run", run)
	if code != 0 || !strings.Contains(out, "re-evaluated in run") {
		t.Fatalf("evaluate: exit %d: %s %s", code, out, errOut)
	}
	if got := statusRows(t, cfg2, "--from", "2026-01-01", "--control", "A.5.17")["A.5.17"]; got["status"] != "effective" {
		t.Errorf("after re-evaluation: %s", got)
	}
}

func TestControlsCommandErrors(t *testing.T) {
	cfg := controlsTestConfig(t, "")
	file := filepath.Join(t.TempDir(), "x.pdf")
	os.WriteFile(file, []byte("x"), 0o644)
	fifo := filepath.Join(t.TempDir(), "fifo.pdf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	badCfg := controlsTestConfig(t, "  disabled:\n    - rule: aws.nope\n      justification: x\n")
	tests := []struct {
		name string
		cfg  string
		args []string
		want string
	}{
		{"unknown framework", cfg, []string{"controls", "status", "--framework", "soc3"}, `unknown framework "soc3"`},
		{"bad format", cfg, []string{"controls", "status", "--format", "xml"}, `--format "xml"`},
		{"bad date", cfg, []string{"controls", "status", "--from", "yesterday"}, "--from"},
		{"unknown control", cfg, []string{"evidence", "add", "--file", file, "--kind", "policy", "--control", "A.5.99", "--effective-date", "2026-01-01"}, `unknown control "A.5.99"`},
		{"missing flag", cfg, []string{"evidence", "add", "--file", file, "--kind", "policy", "--effective-date", "2026-01-01"}, `"control" not set`},
		{"evaluate without run", cfg, []string{"controls", "evaluate"}, "give either --run"},
		{"a FIFO as evidence file", cfg, []string{"evidence", "add", "--file", fifo, "--kind", "policy", "--control", "A.5.1", "--effective-date", "2026-01-01"}, fifo + " is not a regular file"},
		{"unknown rule in config", badCfg, []string{"controls", "rules"}, `exhibit.yaml:10: controls.disabled[0].rule: unknown rule "aws.nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := execExhibit(t, append([]string{"--config", tc.cfg}, tc.args...)...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q, want %q", code, errOut, tc.want)
			}
		})
	}
}

// anyRuleKinds lets the test's rules judge kinds no registered connector emits.
func anyRuleKinds(t *testing.T) {
	old := controlsKnownKinds
	controlsKnownKinds = nil
	t.Cleanup(func() { controlsKnownKinds = old })
}

// controls rules shows why each rule proves each control, and which mappings give no reason.
func TestControlsRulesShowsRationale(t *testing.T) {
	cfg := controlsTestConfig(t, "")
	out, errOut, code := execExhibit(t, "--config", cfg, "controls", "rules", "--framework", "iso27001-2022")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"selftest.password.reuse v1 (selftest.password, low)",
		"      iso27001-2022 A.5.17: Reuse prevention keeps authentication information from coming back after it was changed.",
		"selftest.password.length v1 (selftest.password, medium)\n    Passwords are long\n    iso27001-2022: A.5.17\n      iso27001-2022 A.5.17: (no rationale given)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("controls rules lacks %q:\n%s", want, out)
		}
	}
}
