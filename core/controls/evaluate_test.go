package controls

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls/results"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

func testEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := NewEngine(Options{BuiltinRules: os.DirFS("testdata/rules")})
	if err != nil {
		t.Fatal(err)
	}
	e.Now = func() time.Time { return time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC) }
	return e
}

// envelope stores doc and returns an ok envelope for it.
func envelope(t testing.TB, s store.Store, kind, subject, doc string) evidence.Envelope {
	t.Helper()
	ref, err := store.PutBytes(context.Background(), s, []byte(doc), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	return evidence.Envelope{Kind: kind, Subject: subject, Status: evidence.StatusOK, Document: &ref,
		Connector:   evidence.ConnectorRef{Instance: "aws-prod", Type: "aws", Version: "1"},
		CollectedAt: time.Date(2026, 11, 28, 2, 0, 1, 0, time.UTC)}
}

func replay(envs []evidence.Envelope) func(func(evidence.Envelope) error) error {
	return func(fn func(evidence.Envelope) error) error {
		for _, e := range envs {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestEvaluateRun(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	e := testEngine(t)
	missing := envelope(t, mem.New(), "aws.iam.password_policy", "aws:3", `{"x":1}`) // document not in s
	envs := []evidence.Envelope{
		envelope(t, s, "aws.iam.password_policy", "aws:1", `{"PasswordPolicy":{"MinimumPasswordLength":8}}`),
		envelope(t, s, "aws.s3.buckets", "aws:1", `{"buckets":[]}`), // no rules: no result
		{Kind: "aws.iam.users", Subject: "aws:1", Status: evidence.StatusForbidden, Error: "AccessDenied on iam:ListUsers",
			Connector: evidence.ConnectorRef{Instance: "aws-prod", Type: "aws"}, CollectedAt: time.Now()},
		missing,
	}
	ref, err := e.Evaluate(ctx, s, "20261128T020000Z-abc", replay(envs))
	if err != nil {
		t.Fatal(err)
	}
	if ref == nil || ref.MediaType != ResultsMediaType {
		t.Fatalf("ref %+v", ref)
	}
	data, err := store.GetBytes(ctx, s, ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		seq     int
		rule    string
		outcome Outcome
		detail  string
	}
	var lines []got
	h, err := ReadResults(bytes.NewReader(data), func(seq int, r *Result) error {
		lines = append(lines, got{seq, r.Rule, r.Outcome, r.Detail()})
		if r.Connector != "aws-prod" {
			t.Errorf("result without connector: %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.Run != "20261128T020000Z-abc" || len(h.Rules) != 2 || h.Counts[Fail] != 1 || h.Counts[NoEvidence] != 1 || h.Counts[Error] != 1 {
		t.Errorf("header %+v", h)
	}
	want := []got{
		{0, "aws.iam.password_policy.min_length", Fail, "document.PasswordPolicy.MinimumPasswordLength = 8"},
		{2, "aws.iam.users.mfa", NoEvidence, "evidence not collected (forbidden): AccessDenied"},
		{3, "aws.iam.password_policy.min_length", Error, "could not read the document"},
	}
	if len(lines) != len(want) {
		t.Fatalf("lines %+v", lines)
	}
	for i, w := range want {
		g := lines[i]
		if g.seq != w.seq || g.rule != w.rule || g.outcome != w.outcome || !strings.Contains(g.detail, w.detail) {
			t.Errorf("line %d = %+v, want %+v", i, g, w)
		}
	}

	// Nothing to judge: an empty results object still says the run was judged.
	ref, err = e.Evaluate(ctx, s, "r2", replay(envs[1:2]))
	if err != nil || ref == nil {
		t.Fatalf("no rules: ref %v err %v", ref, err)
	}
	rc, err := s.Get(ctx, ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n := 0
	if _, err := results.Read(rc, func(int, *results.Result) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("no rules: %d results, err %v", n, err)
	}
}

func TestReadResultsStrict(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	e := testEngine(t)
	ref, err := e.Evaluate(ctx, s, "r1", replay([]evidence.Envelope{
		envelope(t, s, "aws.iam.password_policy", "aws:1", `{"PasswordPolicy":{"MinimumPasswordLength":8}}`)}))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := store.GetBytes(ctx, s, ref.Digest)
	lines := strings.SplitAfter(string(good), "\n")
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "empty"},
		{"cut short", strings.TrimSuffix(string(good), "\n"), "not terminated"},
		{"dropped line", lines[0], "holds 0 fail results but its header says 1"},
		{"unknown field", strings.Replace(string(good), `"rule":`, `"extra":1,"rule":`, 1), "unknown field"},
		{"unknown outcome", strings.Replace(string(good), `"outcome":"fail"`, `"outcome":"maybe"`, 1), "unknown outcome"},
		{"rule version not in header", strings.Replace(string(good), `"version":2,"kind"`, `"version":3,"kind"`, 1), "not in the header"},
		{"wrong schema", strings.Replace(string(good), ResultsSchema, "exhibit.results/v9", 1), "not supported"},
		{"duplicate key", strings.Replace(string(good), `"outcome":"fail"`, `"outcome":"fail","outcome":"pass"`, 1), "duplicate key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadResults(strings.NewReader(tc.data), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ReadResults(bytes.NewReader(good), nil); err != nil {
		t.Errorf("good object: %v", err)
	}
}
