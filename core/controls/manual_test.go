package controls

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

func TestManualEvidence(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, statusConfig)
	w.now = day(5)
	expires := day(20)
	sealed, err := w.eng.AddManual(ctx, w.repo, w.signer, w.ix, ManualEvidence{
		FileName: "/home/x/Informationssicherheitsleitlinie.pdf", File: strings.NewReader("%PDF-1.7 policy"),
		Kind: "policy", Controls: map[string][]string{ISO27001: {"A.5.1"}},
		EffectiveDate: day(4), Expires: &expires, Note: "approved by the board"})
	if err != nil {
		t.Fatal(err)
	}
	if sealed.Header.Type != manifest.TypeManual || sealed.Header.Results == nil {
		t.Fatalf("header %+v", sealed.Header)
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     Status
	}{
		{"valid in the period", day(1), day(10), Attested},
		{"starts after the period", day(1), day(3), NoEvidenceStatus},
		{"expired before the period", day(21), day(25), NoEvidenceStatus},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := control(t, w.report(tc.from, tc.to, ReportFilter{Controls: []string{"A.5.1"}}), "A.5.1")
			if c.Status != tc.want {
				t.Fatalf("status %s, want %s", c.Status, tc.want)
			}
			if tc.want == Attested {
				a := c.Attestations[0]
				if a.FileName != "Informationssicherheitsleitlinie.pdf" || a.Kind != "manual.policy" || a.Manifest != sealed.Digest.String() || a.Note == "" {
					t.Errorf("attestation %+v", a)
				}
				data, err := store.GetBytes(ctx, w.repo.Objects, a.File.Digest)
				if err != nil || string(data) != "%PDF-1.7 policy" {
					t.Errorf("stored file %q %v", data, err)
				}
			}
		})
	}
	// Manual runs are not evaluated runs.
	if rep := w.report(day(1), day(10), ReportFilter{SummaryOnly: true}); len(rep.Runs) != 0 {
		t.Errorf("manual run listed as evaluated: %+v", rep.Runs)
	}
	bad := []struct {
		name string
		m    ManualEvidence
		want string
	}{
		{"unknown control", ManualEvidence{FileName: "a.pdf", File: strings.NewReader("x"), Kind: "policy",
			Controls: map[string][]string{ISO27001: {"A.5.99"}}, EffectiveDate: day(1)}, `unknown control "A.5.99"`},
		{"unknown framework", ManualEvidence{FileName: "a.pdf", File: strings.NewReader("x"), Kind: "policy",
			Controls: map[string][]string{"soc2": {"CC1.1"}}, EffectiveDate: day(1)}, `unknown framework "soc2"`},
		{"bad kind", ManualEvidence{FileName: "a.pdf", File: strings.NewReader("x"), Kind: "Policy PDF",
			Controls: map[string][]string{ISO27001: {"A.5.1"}}, EffectiveDate: day(1)}, "invalid artefact kind"},
		{"expires first", ManualEvidence{FileName: "a.pdf", File: strings.NewReader("x"), Kind: "policy",
			Controls: map[string][]string{ISO27001: {"A.5.1"}}, EffectiveDate: day(2), Expires: ptr(day(1))}, "must be after"},
		{"no date", ManualEvidence{FileName: "a.pdf", File: strings.NewReader("x"), Kind: "policy",
			Controls: map[string][]string{ISO27001: {"A.5.1"}}}, "effective date is required"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.eng.AddManual(ctx, w.repo, w.signer, w.ix, tc.m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestReevaluate(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, statusConfig)
	old := w.collect(day(1), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy8})
	if c := control(t, w.report(day(1), day(1), ReportFilter{}), "A.5.17"); c.Status != Failing {
		t.Fatalf("before: %s", c.Status)
	}
	// New thresholds: the same evidence now passes.
	w2 := newWorld(t, "controls:\n  overrides:\n    - rule: aws.iam.password_policy.min_length\n      params: {min_length: 8}\n")
	w.eng = w2.eng
	w.eng.Now = func() time.Time { return w.now }
	w.now = day(9)
	re, err := w.eng.Reevaluate(ctx, w.repo, w.signer, w.ix, old.Header.ID)
	if err != nil {
		t.Fatal(err)
	}
	h := re.Sealed.Header
	if h.Type != manifest.TypeEvaluation || h.Evaluates == nil || *h.Evaluates != old.Digest || h.Results == nil {
		t.Fatalf("evaluation header %+v", h)
	}
	rep := w.report(day(1), day(1), ReportFilter{})
	if c := control(t, rep, "A.5.17"); c.Status != Effective && c.Status != Stale {
		t.Errorf("after re-evaluation: %s", c.Status)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].ID != old.Header.ID || rep.Runs[0].EvaluatedBy != h.ID || rep.Runs[0].Results != h.Results.Digest.String() {
		t.Errorf("runs %+v", rep.Runs)
	}
	// The old results are kept.
	if _, err := store.GetBytes(ctx, w.repo.Objects, old.Header.Results.Digest); err != nil {
		t.Errorf("old results: %v", err)
	}
	var sets int
	if err := w.ix.DB().QueryRow(`SELECT count(*) FROM result_sets WHERE evidence_run = ?`, old.Header.ID).Scan(&sets); err != nil || sets != 2 {
		t.Errorf("%d result sets for the run (%v), want 2", sets, err)
	}

	// A run whose signed reference was tampered with is not judged.
	run, _, _ := w.ix.Run(ctx, old.Header.ID)
	if !w.repo.Runs.(interface {
		Corrupt(evidence.Digest, []byte) bool
	}).Corrupt(*run.Ref, []byte(`{}`)) {
		t.Skip("mem store cannot corrupt")
	}
	if _, err := w.eng.Reevaluate(ctx, w.repo, w.signer, w.ix, old.Header.ID); err == nil {
		t.Error("re-evaluated a run with a tampered reference")
	}
}

// Reindexing from the store rebuilds the same report: results, re-evaluations (the newest is
// current) and manual evidence all come back from the signed manifests.
func TestReindexKeepsReport(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, statusConfig)
	old := w.collect(day(1), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy8})
	w.collect(day(2), manifest.OutcomeComplete, doc{kind: "aws.iam.password_policy", subject: "aws:1", body: policy14},
		doc{kind: "aws.iam.users", subject: "aws:1", body: usersBad})
	w.now = day(3)
	if _, err := w.eng.AddManual(ctx, w.repo, w.signer, w.ix, ManualEvidence{FileName: "p.pdf", File: strings.NewReader("p"),
		Kind: "policy", Controls: map[string][]string{ISO27001: {"A.5.1"}}, EffectiveDate: day(1)}); err != nil {
		t.Fatal(err)
	}
	w2 := newWorld(t, "controls:\n  overrides:\n    - rule: aws.iam.password_policy.min_length\n      params: {min_length: 8}\n")
	eng := w.eng
	w.eng = w2.eng
	w.eng.Now = func() time.Time { return w.now }
	w.now = day(4)
	if _, err := w.eng.Reevaluate(ctx, w.repo, w.signer, w.ix, old.Header.ID); err != nil {
		t.Fatal(err)
	}
	w.eng = eng
	before := w.report(day(1), day(3), ReportFilter{})
	if _, err := index.Reindex(ctx, w.ix, w.repo); err != nil {
		t.Fatal(err)
	}
	after := w.report(day(1), day(3), ReportFilter{})
	var b1, b2 bytes.Buffer
	WriteJSON(&b1, before)
	WriteJSON(&b2, after)
	if b1.String() != b2.String() {
		t.Errorf("report changed by reindexing:\nbefore %s\nafter %s", b1.String(), b2.String())
	}
	if c := control(t, after, "A.5.17"); c.Status != Effective && c.Status != Stale {
		t.Errorf("A.5.17 after reindex: %s (the re-evaluation must stay current)", c.Status)
	}
	if c := control(t, after, "A.5.1"); c.Status != Attested {
		t.Errorf("A.5.1 after reindex: %s", c.Status)
	}
}
