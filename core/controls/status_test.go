package controls

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// world is a repository, signer, index and engine for end-to-end tests of the controls
// engine; runs are sealed and indexed as the runner does it.
type world struct {
	t      testing.TB
	repo   *store.Repo
	signer *sign.Signer
	ix     *index.Index
	eng    *Engine
	now    time.Time
	// skipEvaluation seals runs without results, as collect --no-evaluate does.
	skipEvaluation bool
}

func newWorld(t testing.TB, cfgBody string) *world {
	t.Helper()
	signer, err := sign.Generate(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	eng, err := NewEngine(Options{Config: testConfig(t, cfgBody), BuiltinRules: os.DirFS("testdata/rules")})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, repo: mem.NewRepo(), signer: signer, ix: ix, eng: eng}
	eng.Now = func() time.Time { return w.now }
	eng.TempDir = t.TempDir()
	return w
}

// day returns 02:00 UTC on day d of November 2026.
func day(d int) time.Time { return time.Date(2026, 11, d, 2, 0, 0, 0, time.UTC) }

// doc is an artefact of a test run: a document, or a gap when status is set.
type doc struct {
	kind, subject, body string
	status              evidence.Status
}

// collect seals and indexes a collection run started at `at` and evaluated then.
func (w *world) collect(at time.Time, connOutcome manifest.Outcome, docs ...doc) *manifest.Sealed {
	w.t.Helper()
	ctx := context.Background()
	w.now = at
	id := at.Format("20060102T150405Z") + "-test"
	b, err := manifest.NewBuilder(w.t.TempDir())
	if err != nil {
		w.t.Fatal(err)
	}
	defer b.Close()
	var envs []evidence.Envelope
	for _, d := range docs {
		env := evidence.Envelope{Kind: d.kind, Subject: d.subject, Status: evidence.StatusOK,
			Connector: evidence.ConnectorRef{Instance: "aws-prod", Type: "aws", Version: "1"}, CollectedAt: at.Add(time.Minute)}
		if d.status != "" {
			env.Status, env.Error = d.status, "AccessDenied"
		} else {
			ref, err := store.PutBytes(ctx, w.repo.Objects, []byte(d.body), "application/json")
			if err != nil {
				w.t.Fatal(err)
			}
			env.Document = &ref
		}
		if err := b.Add(env); err != nil {
			w.t.Fatal(err)
		}
		envs = append(envs, env)
	}
	var ref *evidence.ObjectRef
	if !w.skipEvaluation {
		if ref, err = w.eng.Evaluate(ctx, w.repo.Objects, id, b.Envelopes); err != nil {
			w.t.Fatal(err)
		}
	}
	h := manifest.Header{ID: id, Type: manifest.TypeCollection, StartedAt: at, EndedAt: at.Add(time.Hour),
		Outcome: manifest.OutcomeComplete, Results: ref,
		Connectors: []manifest.ConnectorRun{{Instance: "aws-prod", Type: "aws", Version: "1", Outcome: connOutcome,
			StartedAt: at, EndedAt: at.Add(time.Hour), Artefacts: len(docs)}}}
	sealed, err := manifest.Seal(ctx, w.repo, w.signer, h, b)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.ix.AddArtefacts(ctx, id, 0, envs); err != nil {
		w.t.Fatal(err)
	}
	if err := w.ix.RecordRun(ctx, w.repo.Objects, sealed); err != nil {
		w.t.Fatal(err)
	}
	return sealed
}

func (w *world) report(from, to time.Time, f ReportFilter) *PeriodReport {
	w.t.Helper()
	rep, err := BuildReport(context.Background(), w.ix, w.eng, ISO27001, from, to, f)
	if err != nil {
		w.t.Fatal(err)
	}
	return rep
}

func control(t testing.TB, rep *PeriodReport, id string) ControlReport {
	t.Helper()
	for _, c := range rep.Controls {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("control %s not in report", id)
	return ControlReport{}
}

const (
	policy14 = `{"PasswordPolicy":{"MinimumPasswordLength":14}}`
	policy8  = `{"PasswordPolicy":{"MinimumPasswordLength":8}}`
	usersOK  = `{"users":[{"name":"alice","mfa":true}]}`
	usersBad = `{"users":[{"name":"alice","mfa":true},{"name":"bob","mfa":false}]}`
)

const statusConfig = `controls:
  freshness: 48h
  applicability:
    - framework: iso27001-2022
      control: A.7.4
      applicable: false
      justification: No own premises.
`

func TestBuildReport(t *testing.T) {
	w := newWorld(t, statusConfig)
	w.collect(day(1), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy14},
		doc{kind: "aws.iam.users", subject: "aws:1", body: usersOK})
	w.collect(day(2), manifest.OutcomePartial, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy8},
		doc{kind: "aws.iam.users", subject: "aws:1", status: evidence.StatusForbidden})
	w.collect(day(3), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy14},
		doc{kind: "aws.iam.users", subject: "aws:1", body: usersOK})
	w.now = day(3).Add(2 * time.Hour)

	tests := []struct {
		name      string
		from, to  time.Time
		now       time.Time
		filter    ReportFilter
		control   string
		want      Status
		fixed     bool
		gaps      int
		firstFail time.Time
		evidence  int
	}{
		{"failed then fixed", day(1), day(3), day(3), ReportFilter{}, "A.5.17", Failing, true, 0, day(2), 3},
		{"failing with a gap", day(1), day(3), day(3), ReportFilter{}, "A.8.5", Failing, true, 1, day(2), 6},
		{"failing, not fixed in period", day(1), day(2), day(3), ReportFilter{}, "A.5.17", Failing, false, 0, day(2), 2},
		{"gap only", day(2).Add(-time.Minute), day(2), day(3), ReportFilter{SummaryOnly: true}, "A.8.5", Failing, false, 1, day(2), 0},
		{"effective", day(3), day(3), day(3), ReportFilter{}, "A.8.5", Effective, false, 0, time.Time{}, 2},
		{"stale", day(3), day(10), day(10), ReportFilter{}, "A.8.5", Stale, false, 0, time.Time{}, 2},
		{"no rule maps", day(1), day(3), day(3), ReportFilter{}, "A.5.1", NoEvidenceStatus, false, 0, time.Time{}, 0},
		{"not applicable", day(1), day(3), day(3), ReportFilter{}, "A.7.4", NotApplicableStatus, false, 0, time.Time{}, 0},
		{"other connector", day(1), day(3), day(3), ReportFilter{Connectors: []string{"aws-dev"}}, "A.8.5", NoEvidenceStatus, false, 0, time.Time{}, 0},
		{"before any run", day(1).Add(-48 * time.Hour), day(1).Add(-time.Hour), day(3), ReportFilter{}, "A.8.5", NoEvidenceStatus, false, 0, time.Time{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.now = tc.now
			tc.filter.Controls = []string{tc.control}
			rep := w.report(tc.from, tc.to, tc.filter)
			c := control(t, rep, tc.control)
			if c.Status != tc.want {
				t.Fatalf("status %s, want %s (%+v)", c.Status, tc.want, c)
			}
			if c.Fixed != tc.fixed {
				t.Errorf("fixed %v, want %v", c.Fixed, tc.fixed)
			}
			if len(c.Gaps) != tc.gaps {
				t.Errorf("%d gaps, want %d: %+v", len(c.Gaps), tc.gaps, c.Gaps)
			}
			if !tc.firstFail.IsZero() && (c.FirstFailed == nil || !c.FirstFailed.Equal(tc.firstFail)) {
				t.Errorf("first failed %v, want %v", c.FirstFailed, tc.firstFail)
			}
			if len(c.Evidence) != tc.evidence {
				t.Errorf("%d evidence refs, want %d", len(c.Evidence), tc.evidence)
			}
			for _, e := range c.Evidence {
				if e.Manifest == "" || e.RunID == "" || e.Connector != "aws-prod" || e.CollectedAt.IsZero() {
					t.Errorf("evidence ref lacks provenance: %+v", e)
				}
				if e.Outcome == Fail && len(e.Values) == 0 {
					t.Errorf("failed evidence without decisive values: %+v", e)
				}
			}
		})
	}

	// The rule summary says what happened.
	rep := w.report(day(1), day(3), ReportFilter{Controls: []string{"A.8.5"}})
	c := control(t, rep, "A.8.5")
	if len(rep.Runs) != 3 || rep.Runs[0].Manifest == "" {
		t.Errorf("runs %+v", rep.Runs)
	}
	for _, rs := range c.Rules {
		switch rs.Rule {
		case "aws.iam.password_policy.min_length":
			if rs.Runs != 3 || rs.Pass != 2 || rs.Fail != 1 || rs.LastOutcome != Pass || rs.Version != 2 {
				t.Errorf("min_length summary %+v", rs)
			}
		case "aws.iam.users.mfa":
			if rs.Runs != 3 || rs.NoEvidence != 1 || rs.LastOutcome != Pass {
				t.Errorf("mfa summary %+v", rs)
			}
		default:
			t.Errorf("unexpected rule %s", rs.Rule)
		}
	}
	// The Grundschutz++ mapping derived from A.5.17 carries the rule too.
	gs, err := BuildReport(context.Background(), w.ix, w.eng, BSIGSPP, day(1), day(3), ReportFilter{Controls: []string{"BER.3.19"}, SummaryOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if gc := control(t, gs, "BER.3.19"); gc.Status != Failing || len(gc.Rules) != 1 || !gc.Rules[0].Derived {
		t.Errorf("derived BSI control: %+v", gc)
	}
}

// A connector run that fails without emitting anything leaves a gap for each of its rules.
func TestBuildReportFailedConnector(t *testing.T) {
	w := newWorld(t, statusConfig)
	w.collect(day(1), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy14})
	w.collect(day(2), manifest.OutcomeFailed, doc{kind: "aws.s3.buckets", subject: "aws:1", body: `{}`})
	w.now = day(2).Add(time.Hour)
	c := control(t, w.report(day(1), day(2), ReportFilter{Controls: []string{"A.5.17"}}), "A.5.17")
	if c.Status != Gaps || len(c.Gaps) != 1 || !strings.Contains(c.Gaps[0].Reason, "connector aws-prod did not complete (failed) and delivered no aws.iam.password_policy") {
		t.Errorf("status %s, gaps %+v", c.Status, c.Gaps)
	}
}

// A run that collected one kind of a connector but not another leaves a gap for the rules
// of the missing kind; it is not hidden behind the other rule's fresh evidence.
func TestBuildReportKindNotCollected(t *testing.T) {
	w := newWorld(t, statusConfig)
	w.collect(day(1), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy14},
		doc{kind: "aws.iam.users", subject: "aws:1", body: usersOK})
	w.collect(day(5), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy14})
	w.now = day(5).Add(time.Hour)
	c := control(t, w.report(day(1), day(5), ReportFilter{Controls: []string{"A.8.5"}}), "A.8.5")
	if c.Status != Gaps || len(c.Gaps) != 1 || c.Gaps[0].Reason != "connector aws-prod delivered no aws.iam.users" ||
		strings.Join(c.DecidedBy, ",") != "aws.iam.users.mfa" {
		t.Errorf("status %s, gaps %+v, decided by %v", c.Status, c.Gaps, c.DecidedBy)
	}
}

// Two runs whose user list is empty and that collected no password policy: the MFA rule was
// only not_applicable and the length rule never ran. That proves nothing about A.8.5.
func TestBuildReportNothingProved(t *testing.T) {
	w := newWorld(t, statusConfig)
	w.collect(day(1), manifest.OutcomeComplete, doc{kind: "aws.iam.users", subject: "aws:1", body: `{"users":[]}`})
	w.collect(day(2), manifest.OutcomeComplete, doc{kind: "aws.iam.users", subject: "aws:1", body: `{"users":[]}`})
	w.now = day(2).Add(time.Hour)
	c := control(t, w.report(day(1), day(2), ReportFilter{Controls: []string{"A.8.5"}}), "A.8.5")
	if c.Status != Gaps || len(c.Gaps) != 2 || strings.Join(c.DecidedBy, ",") != "aws.iam.password_policy.min_length" {
		t.Errorf("status %s (%s), gaps %+v", c.Status, c.Reason, c.Gaps)
	}
	// With the password policy collected and passing, the MFA rule counts neither way.
	w.collect(day(3), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy14},
		doc{kind: "aws.iam.users", subject: "aws:1", body: `{"users":[]}`})
	w.now = day(3).Add(time.Hour)
	c = control(t, w.report(day(3), day(3), ReportFilter{Controls: []string{"A.8.5"}}), "A.8.5")
	if c.Status != Effective || !strings.Contains(c.Reason, "nothing to judge for aws.iam.users.mfa") {
		t.Errorf("status %s (%s)", c.Status, c.Reason)
	}
}

// A run sealed without results is a gap until `controls evaluate --missing` judges it; runs
// that have results are left alone.
func TestEvaluateMissing(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, statusConfig)
	w.collect(day(1), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy14})
	w.skipEvaluation = true
	w.collect(day(2), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy14})
	w.now = day(2).Add(time.Hour)
	c := control(t, w.report(day(1), day(2), ReportFilter{Controls: []string{"A.5.17"}}), "A.5.17")
	if c.Status != Gaps || len(c.Gaps) != 1 || !strings.Contains(c.Gaps[0].Reason, "no evaluation results") {
		t.Fatalf("before: status %s, gaps %+v", c.Status, c.Gaps)
	}
	done, err := w.eng.EvaluateMissing(ctx, w.repo, w.signer, w.ix, day(1), day(2))
	if err != nil || len(done) != 1 || done[0].Run != "20261102T020000Z-test" || done[0].Sealed == nil {
		t.Fatalf("evaluated %+v, err %v", done, err)
	}
	c = control(t, w.report(day(1), day(2), ReportFilter{Controls: []string{"A.5.17"}}), "A.5.17")
	if c.Status != Effective {
		t.Errorf("after: status %s (%s)", c.Status, c.Reason)
	}
	if done, err := w.eng.EvaluateMissing(ctx, w.repo, w.signer, w.ix, day(1), day(2)); err != nil || len(done) != 0 {
		t.Errorf("second pass evaluated %+v, err %v", done, err)
	}
}
