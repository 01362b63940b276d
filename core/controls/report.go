package controls

import (
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Status is a control's state over an audit period.
type Status string

// The control statuses, in the order a report sorts them by urgency.
const (
	// Failing: a mapped rule failed in at least one run of the period (see FirstFailed,
	// LastFailed, Fixed).
	Failing Status = "failing"
	// Gaps: no failure, but runs of the period did not collect (or could not judge) what
	// the control needs: gap artefacts, rule errors, connectors that failed.
	Gaps Status = "gaps"
	// Stale: every run passed, but the newest evidence is older than the freshness limit
	// at the end of the period.
	Stale Status = "stale"
	// NoEvidenceStatus: no automated rule in scope maps to the control, or none passed in
	// the period (nothing collected, or nothing to judge), and no manual evidence is valid.
	NoEvidenceStatus Status = "no_evidence"
	// Effective: every in-scope mapped rule passed at least once in the period (rules only
	// ever not_applicable aside), none failed, erred or went missing, and the evidence is
	// fresh.
	Effective Status = "effective"
	// Attested: no automated verdict (as for NoEvidenceStatus), but manual evidence valid in
	// the period names it.
	Attested Status = "attested"
	// NotApplicableStatus: excluded in the config, with a justification.
	NotApplicableStatus Status = "not_applicable"
)

// Statuses lists every status in report order.
var Statuses = []Status{Failing, Gaps, Stale, NoEvidenceStatus, Effective, Attested, NotApplicableStatus}

// ReportFilter narrows a report. Zero fields select everything.
type ReportFilter struct {
	// Controls limits the report to these control ids.
	Controls []string
	// Connectors limits the automated evidence to these connector instances (names from
	// the config, e.g. "aws-prod").
	Connectors []string
	// SummaryOnly leaves out per-artefact evidence references (ControlReport.Evidence),
	// which is what `controls status` needs; bundles want them.
	SummaryOnly bool
	// MaxEvidence caps evidence references per control and rule (0 = no cap).
	MaxEvidence int
}

// PeriodReport is the state of every control of a framework over an audit period. It is
// what `exhibit controls status` prints and what bundles render as report/controls.csv,
// index.html and OSCAL assessment results.
type PeriodReport struct {
	Framework      string    `json:"framework"`
	FrameworkTitle string    `json:"framework_title"`
	Attribution    string    `json:"attribution,omitempty"`
	From           time.Time `json:"from"`
	To             time.Time `json:"to"`
	GeneratedAt    time.Time `json:"generated_at"`
	// Freshness is the limit used for stale.
	Freshness time.Duration `json:"freshness_ns"`
	// Runs are the sealed collection runs of the period, oldest first, each with its current
	// evaluation (Results empty when the run had nothing to judge).
	Runs []RunRef `json:"runs"`
	// Counts per status.
	Counts   map[Status]int  `json:"counts"`
	Controls []ControlReport `json:"controls"`
}

// RunRef names one evaluated run.
type RunRef struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"started_at"`
	// Manifest is the digest of the run's signed manifest (hex).
	Manifest string `json:"manifest"`
	// Results is the digest of the results object used (the newest evaluation of the run);
	// empty if the run had nothing to judge.
	Results string `json:"results"`
	// EvaluatedBy is the run whose manifest signs Results: the run itself, or an evaluation
	// run that re-judged it.
	EvaluatedBy string `json:"evaluated_by"`
	Outcome     string `json:"outcome"`
}

// ControlReport is one control's status over the period and why.
type ControlReport struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	TitleDE string `json:"title_de,omitempty"`
	Status  Status `json:"status"`
	// FirstFailed and LastFailed are the starts of the first and last runs of the period in
	// which a mapped rule failed.
	FirstFailed *time.Time `json:"first_failed,omitempty"`
	LastFailed  *time.Time `json:"last_failed,omitempty"`
	// Fixed: the control failed in the period, but every mapped rule passed in the newest
	// run of the period.
	Fixed bool `json:"fixed,omitempty"`
	// NewestEvidence is the newest collection time of automated evidence in the period.
	NewestEvidence *time.Time `json:"newest_evidence,omitempty"`
	// StaleRules are the mapped rules whose newest evidence is older than the freshness
	// limit at the end of the period (or now).
	StaleRules []string `json:"stale_rules,omitempty"`
	// Justification: why the control is not applicable, or which mapped rules are disabled
	// and why.
	Justification string `json:"justification,omitempty"`
	// Reason says in one line why the control has its status, naming the rules that
	// decided it (DecidedBy).
	Reason       string           `json:"reason"`
	DecidedBy    []string         `json:"decided_by,omitempty"`
	Rules        []RuleSummary    `json:"rules"`
	Gaps         []Gap            `json:"gaps,omitempty"`
	Attestations []AttestationRef `json:"attestations,omitempty"`
	// Evidence lists the results of the mapped rules in the period (unless SummaryOnly).
	Evidence []EvidenceRef `json:"evidence,omitempty"`
}

// RuleSummary is one mapped rule's results over the period.
type RuleSummary struct {
	Rule     string `json:"rule"`
	Version  int    `json:"version"` // the newest version that judged in the period (the current one if none)
	Title    string `json:"title"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	// Derived: the rule maps to this control only through a derived mapping (BSI ISO→GS++)
	// or a custom framework's maps_to.
	Derived       bool   `json:"derived,omitempty"`
	Disabled      bool   `json:"disabled,omitempty"`
	Justification string `json:"justification,omitempty"`
	// OutOfScope: no connector of the rule's type is configured, so the rule counts neither
	// way.
	OutOfScope bool `json:"out_of_scope,omitempty"`
	// Rationale says why the rule's evidence shows the control operating (empty when its
	// rules file gives none).
	Rationale string `json:"rationale,omitempty"`
	// Gaps is the number of runs of the period (per connector instance) that left the rule
	// without a verdict.
	Gaps int `json:"gaps"`
	// Runs is the number of runs of the period with results of the rule.
	Runs          int        `json:"runs"`
	Pass          int        `json:"pass"`
	Fail          int        `json:"fail"`
	Error         int        `json:"error"`
	NotApplicable int        `json:"not_applicable"`
	NoEvidence    int        `json:"no_evidence"`
	FirstFailed   *time.Time `json:"first_failed,omitempty"`
	LastFailed    *time.Time `json:"last_failed,omitempty"`
	// LastRun, LastOutcome and LastDetail describe the newest run of the period that judged
	// the rule: the worst outcome in it and one rendered verdict.
	LastRun     string    `json:"last_run,omitempty"`
	LastRunAt   time.Time `json:"last_run_at,omitzero"`
	LastOutcome Outcome   `json:"last_outcome,omitempty"`
	LastDetail  string    `json:"last_detail,omitempty"`
}

// Gap is a run of the period that did not deliver what a control needs.
type Gap struct {
	RunID        string    `json:"run"`
	RunStartedAt time.Time `json:"run_started_at"`
	Rule         string    `json:"rule,omitempty"`
	Connector    string    `json:"connector,omitempty"`
	Reason       string    `json:"reason"`
}

// EvidenceRef is one result that supports (or undermines) a control: the artefact it judged,
// where it is, and the values that decided it.
type EvidenceRef struct {
	RunID       string          `json:"run"`
	Manifest    string          `json:"manifest"`
	Kind        string          `json:"kind"`
	Subject     string          `json:"subject"`
	Connector   string          `json:"connector"`
	CollectedAt time.Time       `json:"collected_at"`
	Document    evidence.Digest `json:"document"`
	Seq         int             `json:"seq"`
	Rule        string          `json:"rule"`
	Version     int             `json:"version"`
	Outcome     Outcome         `json:"outcome"`
	Message     string          `json:"message,omitempty"`
	Values      []Value         `json:"values,omitempty"`
	Failing     []string        `json:"failing,omitempty"`
}

// AttestationRef is manual evidence that names a control and is valid in the period.
type AttestationRef struct {
	RunID         string             `json:"run"`
	Manifest      string             `json:"manifest"`
	Kind          string             `json:"kind"`
	Document      string             `json:"document"`
	File          evidence.ObjectRef `json:"file"`
	FileName      string             `json:"file_name"`
	EffectiveDate time.Time          `json:"effective_date"`
	Expires       *time.Time         `json:"expires,omitempty"`
	Note          string             `json:"note,omitempty"`
	// ViaControl is set when the attestation names a mapped control (a custom framework's
	// maps_to target) rather than this one.
	ViaControl string `json:"via_control,omitempty"`
}
