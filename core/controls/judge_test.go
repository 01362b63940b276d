package controls

import (
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
)

// Plain inputs for the status truth table (README.md, "Status over a period").
var (
	ruleA  = MappedRule{ID: "aws.a", Version: 1, Kind: "aws.thing_a", Title: "a", Severity: "high", Rationale: "why a"}
	ruleB  = MappedRule{ID: "aws.b", Version: 1, Kind: "aws.thing_b", Title: "b", Severity: "low"}
	ruleGH = MappedRule{ID: "github.c", Version: 1, Kind: "github.thing_c", Title: "c", Severity: "low"}
	manual = AttestationRef{FileName: "policy.pdf", RunID: "manual-1"}
)

// at is 02:00 UTC on day d of November 2026.
func at(d int) time.Time { return time.Date(2026, 11, d, 2, 0, 0, 0, time.UTC) }

// prun is a run of day d in which the given instances ran ("aws-prod" is of type aws,
// "github-org" of type github); evaluated says whether it has results.
func prun(d int, evaluated bool, instances ...index.PeriodConnector) index.PeriodRun {
	r := index.PeriodRun{ID: "run" + string(rune('0'+d)), StartedAt: at(d), Outcome: "complete", Connectors: instances}
	if evaluated {
		r.Results = "digest"
	}
	return r
}

var (
	awsOK      = index.PeriodConnector{Instance: "aws-prod", Type: "aws", Outcome: "complete"}
	awsFailed  = index.PeriodConnector{Instance: "aws-prod", Type: "aws", Outcome: "failed", Error: "AccessDenied on sts:AssumeRole"}
	awsStopped = index.PeriodConnector{Instance: "aws-prod", Type: "aws", Outcome: "interrupted", Error: "interrupted: the process ended"}
)

// outcome letters: p pass, f fail, e error, n not_applicable, g no_evidence (gap artefact).
func psum(d int, rule, outcomes string) index.RuleRunSummary {
	s := index.RuleRunSummary{RunID: "run" + string(rune('0'+d)), RunStartedAt: at(d), Rule: rule, Connector: "aws-prod",
		Version: 1, NewestCollected: at(d).Add(time.Minute)}
	for _, o := range outcomes {
		switch o {
		case 'p':
			s.Pass++
		case 'f':
			s.Fail++
			s.Detail = "aws:1: MinimumPasswordLength = 8"
		case 'e':
			s.Error++
			s.Detail = "aws:1: no such key: PasswordPolicy"
		case 'n':
			s.NotApplicable++
		case 'g':
			s.NoEvidence++
			s.Detail = "aws:1: forbidden: AccessDenied"
		}
	}
	return s
}

func TestJudgeStatusTruthTable(t *testing.T) {
	aws := map[string]bool{"aws": true}
	tests := []struct {
		name      string
		control   ControlInput
		runs      []index.PeriodRun
		sums      []index.RuleRunSummary
		types     map[string]bool // nil: the types that ran
		reference time.Time       // zero: day 3
		want      Status
		reason    string   // substring of Reason
		decidedBy string   // comma-separated, "" = not checked
		gaps      []string // substrings of the gaps' reasons, in order
	}{
		{name: "excluded by the config", control: ControlInput{NotApplicable: true, Justification: "No own premises.", Rules: []MappedRule{ruleA}},
			runs: []index.PeriodRun{prun(1, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "f")},
			want: NotApplicableStatus, reason: "No own premises."},
		{name: "no rule maps", control: ControlInput{}, runs: []index.PeriodRun{prun(1, true, awsOK)},
			want: NoEvidenceStatus, reason: "no automated rule maps to this control"},
		{name: "no rule maps, manual evidence", control: ControlInput{Attestations: []AttestationRef{manual}},
			want: Attested, reason: "policy.pdf"},
		{name: "connector type not configured", control: ControlInput{Rules: []MappedRule{ruleGH}}, types: aws,
			runs: []index.PeriodRun{prun(1, true, awsOK)}, want: NoEvidenceStatus, reason: "connector not configured: github.c"},
		{name: "out-of-scope rule beside a passing one", control: ControlInput{Rules: []MappedRule{ruleA, ruleGH}}, types: aws,
			runs: []index.PeriodRun{prun(1, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "p")},
			want: Effective, decidedBy: "aws.a", reason: "out of scope (connector not configured): github.c"},
		{name: "every mapped rule disabled", control: ControlInput{Rules: []MappedRule{{ID: "aws.a", Kind: "aws.thing_a", Disabled: true, Justification: "SSO only"}}},
			runs: []index.PeriodRun{prun(1, true, awsOK)}, want: NoEvidenceStatus, reason: "every mapped rule is disabled"},
		{name: "a fail in one run", control: ControlInput{Rules: []MappedRule{ruleA, ruleB}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, true, awsOK)},
			sums: []index.RuleRunSummary{psum(1, "aws.a", "p"), psum(1, "aws.b", "p"), psum(2, "aws.a", "pf"), psum(2, "aws.b", "p")},
			want: Failing, reason: "aws.a failed in 1 of 2 runs (now: aws:1: MinimumPasswordLength = 8)", decidedBy: "aws.a"},
		{name: "a fail, fixed in the newest run", control: ControlInput{Rules: []MappedRule{ruleA}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, true, awsOK)},
			sums: []index.RuleRunSummary{psum(1, "aws.a", "f"), psum(2, "aws.a", "p")},
			want: Failing, reason: "fixed in the newest run", decidedBy: "aws.a"},
		{name: "a fail outranks a gap", control: ControlInput{Rules: []MappedRule{ruleA, ruleB}},
			runs: []index.PeriodRun{prun(1, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "f"), psum(1, "aws.b", "g")},
			want: Failing, decidedBy: "aws.a", gaps: []string{"1 artefact not collected: aws:1: forbidden"}},
		{name: "gap artefact", control: ControlInput{Rules: []MappedRule{ruleA}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "p"), psum(2, "aws.a", "g")},
			want: Gaps, decidedBy: "aws.a", gaps: []string{"1 artefact not collected: aws:1: forbidden: AccessDenied"}},
		{name: "rule error", control: ControlInput{Rules: []MappedRule{ruleA}},
			runs: []index.PeriodRun{prun(1, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "pe")},
			want: Gaps, decidedBy: "aws.a", gaps: []string{"1 artefact could not be judged: aws:1: no such key"}},
		{name: "kind not collected in a run", control: ControlInput{Rules: []MappedRule{ruleA, ruleB}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, true, awsOK)},
			sums: []index.RuleRunSummary{psum(1, "aws.a", "p"), psum(1, "aws.b", "p"), psum(2, "aws.a", "p")},
			want: Gaps, decidedBy: "aws.b", gaps: []string{"connector aws-prod delivered no aws.thing_b"}},
		{name: "run not evaluated", control: ControlInput{Rules: []MappedRule{ruleA}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, false, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "p")},
			want: Gaps, decidedBy: "aws.a", gaps: []string{"the run has no evaluation results"}},
		{name: "connector failed", control: ControlInput{Rules: []MappedRule{ruleA}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, true, awsFailed)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "p")},
			want: Gaps, gaps: []string{"connector aws-prod did not complete (failed: AccessDenied on sts:AssumeRole) and delivered no aws.thing_a"}},
		{name: "run interrupted", control: ControlInput{Rules: []MappedRule{ruleA}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, true, awsStopped)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "p")},
			want: Gaps, gaps: []string{"did not complete (interrupted: the process ended)"}},
		{name: "configured type that never ran beside a passing rule", control: ControlInput{Rules: []MappedRule{ruleA, ruleGH}},
			types: map[string]bool{"aws": true, "github": true}, runs: []index.PeriodRun{prun(1, true, awsOK)},
			sums: []index.RuleRunSummary{psum(1, "aws.a", "p")}, want: Gaps, decidedBy: "github.c", gaps: []string{"no run of the period collected github.thing_c"}},
		{name: "only not_applicable: nothing to judge", control: ControlInput{Rules: []MappedRule{ruleA}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "n"), psum(2, "aws.a", "n")},
			want: NoEvidenceStatus, reason: "nothing to judge in the period", decidedBy: "aws.a"},
		{name: "only not_applicable, manual evidence", control: ControlInput{Rules: []MappedRule{ruleA}, Attestations: []AttestationRef{manual}},
			runs: []index.PeriodRun{prun(1, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "n")},
			want: Attested, reason: "nothing to judge in the period (aws.a only not_applicable); manual evidence: policy.pdf"},
		{name: "not_applicable counts neither way beside a pass", control: ControlInput{Rules: []MappedRule{ruleA, ruleB}},
			runs: []index.PeriodRun{prun(1, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "p"), psum(1, "aws.b", "n")},
			want: Effective, reason: "nothing to judge for aws.b", decidedBy: "aws.a"},
		{name: "no runs in the period", control: ControlInput{Rules: []MappedRule{ruleA}}, types: aws,
			want: NoEvidenceStatus, reason: "no results in the period from aws.a"},
		{name: "stale", control: ControlInput{Rules: []MappedRule{ruleA}}, reference: at(9),
			runs: []index.PeriodRun{prun(1, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.a", "p")},
			want: Stale, reason: "no fresh evidence from aws.a", decidedBy: "aws.a"},
		{name: "effective", control: ControlInput{Rules: []MappedRule{ruleA, ruleB}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, true, awsOK)},
			sums: []index.RuleRunSummary{psum(1, "aws.a", "p"), psum(1, "aws.b", "pp"), psum(2, "aws.a", "p"), psum(2, "aws.b", "p")},
			want: Effective, reason: "aws.a, aws.b passed (5 passing results)", decidedBy: "aws.a,aws.b"},
		// Two runs whose user list is empty: the MFA rule was only not_applicable and the
		// password policy was never collected. Not effective.
		{name: "empty user list, password policy missing", control: ControlInput{Rules: []MappedRule{ruleA, ruleB}},
			runs: []index.PeriodRun{prun(1, true, awsOK), prun(2, true, awsOK)}, sums: []index.RuleRunSummary{psum(1, "aws.b", "n"), psum(2, "aws.b", "n")},
			want: Gaps, decidedBy: "aws.a", gaps: []string{"delivered no aws.thing_a", "delivered no aws.thing_a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.control.ID = "A.1"
			ref := tc.reference
			if ref.IsZero() {
				ref = at(3)
			}
			got := JudgeStatus(StatusInput{Controls: []ControlInput{tc.control}, Runs: tc.runs, Summaries: tc.sums,
				ConnectorTypes: tc.types, Reference: ref, Freshness: 48 * time.Hour})
			if len(got) != 1 {
				t.Fatalf("%d reports", len(got))
			}
			c := got[0]
			if c.Status != tc.want {
				t.Errorf("status %s, want %s (reason %q)", c.Status, tc.want, c.Reason)
			}
			if !strings.Contains(c.Reason, tc.reason) || c.Reason == "" {
				t.Errorf("reason %q, want it to say %q", c.Reason, tc.reason)
			}
			if tc.decidedBy != "" && strings.Join(c.DecidedBy, ",") != tc.decidedBy {
				t.Errorf("decided by %v, want %s", c.DecidedBy, tc.decidedBy)
			}
			if len(c.Gaps) != len(tc.gaps) {
				t.Fatalf("gaps %+v, want %d", c.Gaps, len(tc.gaps))
			}
			for i, g := range tc.gaps {
				if !strings.Contains(c.Gaps[i].Reason, g) {
					t.Errorf("gap %d: %q, want it to say %q", i, c.Gaps[i].Reason, g)
				}
			}
		})
	}
}

// Rules out of scope are listed as such, with their rationale, and count neither way.
func TestJudgeStatusListsRules(t *testing.T) {
	c := JudgeStatus(StatusInput{Controls: []ControlInput{{ID: "A.1", Rules: []MappedRule{ruleA, ruleGH}}},
		Runs: []index.PeriodRun{prun(1, true, awsOK)}, Summaries: []index.RuleRunSummary{psum(1, "aws.a", "p")},
		ConnectorTypes: map[string]bool{"aws": true}, Reference: at(1), Freshness: time.Hour})[0]
	if len(c.Rules) != 2 || c.Rules[0].OutOfScope || c.Rules[0].Rationale != "why a" || c.Rules[0].Pass != 1 || c.Rules[0].Runs != 1 ||
		!c.Rules[1].OutOfScope || c.Rules[1].Runs != 0 {
		t.Errorf("rules %+v", c.Rules)
	}
}
