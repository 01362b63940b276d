package s3

import (
	"context"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Retention is an object's Object Lock state.
type Retention struct {
	// Mode is COMPLIANCE, GOVERNANCE, or empty when the object has no retention.
	Mode        string
	RetainUntil time.Time
	LegalHold   bool
}

// Retainer is the optional capability of stores that keep objects under retention; find it
// by type assertion on a store.Store.
type Retainer interface {
	Retention(ctx context.Context, d evidence.Digest) (Retention, error)
}

var _ Retainer = (*Store)(nil)

// Retention returns the Object Lock state of the object d (ErrNotFound if it is missing).
func (s *Store) Retention(ctx context.Context, d evidence.Digest) (Retention, error) {
	if err := ctx.Err(); err != nil {
		return Retention{}, s.errorf("retention", d, err)
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.key(d), minio.StatObjectOptions{})
	if err != nil {
		return Retention{}, s.statError("retention", d, err)
	}
	return retentionOf(oi), nil
}

// retentionOf reads the Object Lock headers of a HEAD response.
func retentionOf(oi minio.ObjectInfo) Retention {
	h := oi.Metadata
	var r Retention
	r.Mode = h.Get("X-Amz-Object-Lock-Mode")
	if v := h.Get("X-Amz-Object-Lock-Retain-Until-Date"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			r.RetainUntil = t
		}
	}
	r.LegalHold = h.Get("X-Amz-Object-Lock-Legal-Hold") == string(minio.LegalHoldEnabled)
	return r
}
