package connector

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/exhibit-dev/exhibit/evidence"
)

// NewGap returns the artefact that records that kind could not be collected for subject.
// The error text goes into the envelope: it must not contain secrets (SDK errors carry
// request ids and messages, not credentials; the capturing transport never puts request
// headers into errors).
func NewGap(kind, subject string, status evidence.Status, err error) evidence.Artefact {
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	if status == "" || status == evidence.StatusOK {
		status = evidence.StatusFailed
	}
	return evidence.Artefact{Kind: kind, Subject: subject, Status: status, Error: msg}
}

// GapError is an error that knows which gap status it should become. Connectors and the
// capturing transport return it so the classification happens where the knowledge is.
type GapError struct {
	Status evidence.Status
	Err    error
}

func (e *GapError) Error() string { return fmt.Sprintf("%s: %v", e.Status, e.Err) }

func (e *GapError) Unwrap() error { return e.Err }

// AsGap wraps err with a gap status.
func AsGap(status evidence.Status, err error) error {
	if err == nil {
		return nil
	}
	return &GapError{Status: status, Err: err}
}

// GapStatus returns the gap status err carries (through GapError), or StatusFailed.
func GapStatus(err error) evidence.Status {
	var ge *GapError
	if errors.As(err, &ge) && ge.Status != "" {
		return ge.Status
	}
	return evidence.StatusFailed
}

// StatusForHTTP maps an upstream HTTP status to the gap it means when no more specific
// knowledge applies (connectors refine it: a 404 on branch protection means "unprotected",
// a 403 with a licence message means not_licensed).
func StatusForHTTP(code int) evidence.Status {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return evidence.StatusForbidden
	case code == http.StatusTooManyRequests:
		return evidence.StatusThrottled
	case code == http.StatusNotImplemented:
		return evidence.StatusNotAvailable
	default:
		return evidence.StatusFailed
	}
}
