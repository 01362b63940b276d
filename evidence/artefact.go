package evidence

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Status says whether an artefact holds evidence or records a gap: the reason the evidence
// could not be collected. Missing evidence is never silent; it is an artefact of its own.
type Status string

// The statuses an artefact can have. Every status but StatusOK marks a gap.
const (
	StatusOK           Status = "ok"            // the document is the evidence
	StatusFailed       Status = "failed"        // the upstream call failed (5xx, timeout, bad body, panic)
	StatusThrottled    Status = "throttled"     // rate limits did not clear within the allowed wait
	StatusForbidden    Status = "forbidden"     // the credentials lack the permission
	StatusNotLicensed  Status = "not_licensed"  // the tenant lacks the licence for the feature (e.g. Entra P2)
	StatusNotEnabled   Status = "not_enabled"   // the service is not enabled or subscribed (e.g. Inspector)
	StatusNotAvailable Status = "not_available" // the feature does not exist on this plan or edition
)

var knownStatus = map[Status]bool{
	StatusOK: true, StatusFailed: true, StatusThrottled: true, StatusForbidden: true,
	StatusNotLicensed: true, StatusNotEnabled: true, StatusNotAvailable: true,
}

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool { return knownStatus[s] }

// IsGap reports whether the status records missing evidence.
func (s Status) IsGap() bool { return s != StatusOK }

// Artefact is one logical piece of evidence of one kind about one subject, as a connector
// emits it. The runner turns it into stored objects and an Envelope.
type Artefact struct {
	// Kind names what the evidence is, e.g. "aws.iam.password_policy". Lower case, dot separated.
	Kind string
	// Subject names what the evidence is about, e.g. "aws:123456789012:eu-central-1",
	// "github:acme/payments", "msgraph:<tenant id>".
	Subject string
	// Status is StatusOK for evidence and a gap status otherwise. The zero value means OK.
	Status Status
	// Error explains a gap in one line. It must not contain secrets.
	Error string
	// Document is the JSON the rules evaluate: for JSON APIs the response with pages merged,
	// for XML or query APIs the SDK's typed output. Deterministic: unchanged evidence must
	// yield the same bytes. Nil for most gaps.
	Document []byte
	// Exchanges are the HTTP exchanges the document was derived from, as recorded by the
	// capturing transport (connector.Recorder). Their bodies are already in the store.
	Exchanges []Exchange
	// Pseudonymised lists the document fields that were replaced by keyed pseudonyms,
	// as JSON-path-like names (e.g. "value[].userPrincipalName").
	Pseudonymised []string
}

// Validate checks what the runner relies on before it stores an artefact.
func (a *Artefact) Validate() error {
	if err := ValidateKind(a.Kind); err != nil {
		return err
	}
	if strings.TrimSpace(a.Subject) == "" {
		return fmt.Errorf("artefact %s: empty subject", a.Kind)
	}
	st := a.Status
	if st == "" {
		st = StatusOK
	}
	if !st.Valid() {
		return fmt.Errorf("artefact %s %s: unknown status %q", a.Kind, a.Subject, a.Status)
	}
	if st == StatusOK && len(a.Document) == 0 {
		return fmt.Errorf("artefact %s %s: status ok without a document", a.Kind, a.Subject)
	}
	if st.IsGap() && a.Error == "" {
		return fmt.Errorf("artefact %s %s: gap (%s) without an error message", a.Kind, a.Subject, st)
	}
	if len(a.Document) > 0 && !json.Valid(a.Document) {
		return fmt.Errorf("artefact %s %s: document is not valid JSON", a.Kind, a.Subject)
	}
	return nil
}

// ValidateKind checks an artefact kind: two or more dot-separated lower-case words of
// letters, digits and underscores.
func ValidateKind(kind string) error {
	parts := strings.Split(kind, ".")
	if len(parts) < 2 {
		return fmt.Errorf("invalid artefact kind %q: want at least <connector>.<thing>", kind)
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("invalid artefact kind %q: empty part", kind)
		}
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return fmt.Errorf("invalid artefact kind %q: only a-z, 0-9, _ and . are allowed", kind)
			}
		}
	}
	return nil
}

// Envelope is the provenance of one artefact: what it is, where and when it was collected,
// and through which HTTP exchanges. Envelopes are written into the signed run manifest;
// the document and raw bodies they reference are objects in the store.
type Envelope struct {
	Kind        string       `json:"kind"`
	Subject     string       `json:"subject"`
	Connector   ConnectorRef `json:"connector"`
	CollectedAt time.Time    `json:"collected_at"`
	Status      Status       `json:"status"`
	Error       string       `json:"error,omitempty"`
	// Document references the stored document; nil for a gap without a document.
	Document *ObjectRef `json:"document,omitempty"`
	// Exchanges are the HTTP exchanges the document was derived from, in the order made.
	Exchanges []Exchange `json:"exchanges,omitempty"`
	// Redactions lists secrets removed from the document itself (those removed from raw
	// bodies are listed on each exchange).
	Redactions    []Redaction `json:"redactions,omitempty"`
	Pseudonymised []string    `json:"pseudonymised,omitempty"`
}

// Validate checks an envelope read from a manifest.
func (e *Envelope) Validate() error {
	if err := ValidateKind(e.Kind); err != nil {
		return err
	}
	if e.Subject == "" {
		return fmt.Errorf("envelope %s: empty subject", e.Kind)
	}
	if !e.Status.Valid() {
		return fmt.Errorf("envelope %s %s: unknown status %q", e.Kind, e.Subject, e.Status)
	}
	if e.Status == StatusOK && e.Document == nil {
		return fmt.Errorf("envelope %s %s: status ok without a document", e.Kind, e.Subject)
	}
	if e.Connector.Instance == "" || e.Connector.Type == "" {
		return fmt.Errorf("envelope %s %s: connector instance and type are required", e.Kind, e.Subject)
	}
	if e.CollectedAt.IsZero() {
		return fmt.Errorf("envelope %s %s: collected_at is missing", e.Kind, e.Subject)
	}
	for i, x := range e.Exchanges {
		if x.Body.Digest.IsZero() && x.Body.Size > 0 {
			return fmt.Errorf("envelope %s %s: exchange %d has a body without a digest", e.Kind, e.Subject, i)
		}
	}
	return nil
}

// ConnectorRef names the connector instance that collected an artefact.
type ConnectorRef struct {
	Instance string `json:"instance"` // the name in the config, e.g. "aws-prod"
	Type     string `json:"type"`     // the connector type, e.g. "aws"
	Version  string `json:"version"`  // the connector's version, bumped when documents change shape
}

// ObjectRef references a stored object by digest.
type ObjectRef struct {
	Digest    Digest `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type,omitempty"`
}

// Exchange is the provenance of one HTTP request and its response.
type Exchange struct {
	Method string `json:"method"`
	// URL is the request URL with secrets removed (credentials, signatures, tokens in the query).
	URL    string `json:"url"`
	Status int    `json:"status"`
	// RequestID is the upstream request id (x-amzn-RequestId, X-GitHub-Request-Id, request-id).
	RequestID string    `json:"request_id,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// DurationMS is the time from sending the request to the end of the response body.
	DurationMS int64 `json:"duration_ms"`
	// Body references the stored response body, after redaction.
	Body ObjectRef `json:"body"`
	// Redactions lists what was removed from the body before it was hashed and stored.
	Redactions []Redaction `json:"redactions,omitempty"`
}

// Redaction records one kind of secret removed from a body or document.
type Redaction struct {
	Rule     string `json:"rule"`     // e.g. "aws_secret_access_key", "bearer_token", "private_key"
	Location string `json:"location"` // JSON path, XML element or "body" for free text
	Count    int    `json:"count"`
}
