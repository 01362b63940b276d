package controls

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/evidence"
)

var _ runner.Evaluator = (*Engine)(nil)

// fixedConnector emits the same artefacts on every run: a test connector, not a fake of
// an upstream API (the runner and the engine are real).
type fixedConnector struct{ artefacts []evidence.Artefact }

func (c fixedConnector) Collect(ctx context.Context, emit func(evidence.Artefact) error) error {
	for _, a := range c.artefacts {
		if err := emit(a); err != nil {
			return err
		}
	}
	return nil
}

type fixedFactory struct{ artefacts []evidence.Artefact }

func (f fixedFactory) Type() string    { return "aws" }
func (f fixedFactory) Version() string { return "test" }
func (f fixedFactory) Kinds() []connector.Kind {
	return []connector.Kind{{Name: "aws.iam.password_policy"}, {Name: "aws.iam.users"}}
}
func (f fixedFactory) Permissions() []connector.Permission { return nil }
func (f fixedFactory) New(connector.Settings, connector.Options) (connector.Connector, error) {
	return fixedConnector{f.artefacts}, nil
}

// TestRunnerEvaluates runs the real runner with the engine as its Evaluator: results are
// stored, named in the signed manifest, indexed, and the period report sees them.
func TestRunnerEvaluates(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, statusConfig)
	settings, err := config.NewSettings("test.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	run := func(at time.Time, policy string) *runner.Summary {
		w.now = at
		r := &runner.Runner{Repo: w.repo, Signer: w.signer, Index: w.ix, Evaluator: w.eng, TempDir: t.TempDir(),
			DataDir: filepath.Join(t.TempDir(), "data"), Now: func() time.Time { return w.now }}
		f := fixedFactory{[]evidence.Artefact{
			{Kind: "aws.iam.password_policy", Subject: "aws:1", Document: []byte(policy)},
			{Kind: "aws.iam.users", Subject: "aws:1", Status: evidence.StatusForbidden, Error: "AccessDenied on iam:ListUsers"},
		}}
		sum, err := r.Run(ctx, []runner.Instance{{Name: "aws-prod", Factory: f, Settings: settings}})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	run(day(1), policy14)
	s2 := run(day(2), policy8)
	ix, _, err := w.ix.Run(ctx, s2.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Results == nil {
		t.Fatal("the sealed run names no results")
	}
	w.now = day(2).Add(time.Hour)
	rep := w.report(day(1), day(2), ReportFilter{Controls: []string{"A.5.17", "A.8.5"}})
	if len(rep.Runs) != 2 {
		t.Fatalf("%d runs in the report", len(rep.Runs))
	}
	if c := control(t, rep, "A.5.17"); c.Status != Failing || c.Fixed || c.FirstFailed == nil || !c.FirstFailed.Equal(rep.Runs[1].StartedAt) {
		t.Errorf("A.5.17: %+v", c)
	}
	if c := control(t, rep, "A.8.5"); len(c.Gaps) != 2 {
		t.Errorf("A.8.5 gaps: %+v", c.Gaps)
	}
}
