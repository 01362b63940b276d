package manifest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

var t0 = time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)

func newSigner(t testing.TB) *sign.Signer {
	t.Helper()
	s, err := sign.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// envelope returns a distinct, valid envelope with a document and one exchange.
func envelope(i int) evidence.Envelope {
	doc := evidence.Sum([]byte(fmt.Sprintf("document %d", i)))
	body := evidence.Sum([]byte(fmt.Sprintf("body %d", i)))
	return evidence.Envelope{
		Kind:        "aws.iam.password_policy",
		Subject:     fmt.Sprintf("aws:%012d:eu-central-1", i),
		Connector:   evidence.ConnectorRef{Instance: "aws-prod", Type: "aws", Version: "1"},
		CollectedAt: t0.Add(time.Duration(i) * time.Millisecond),
		Status:      evidence.StatusOK,
		Document:    &evidence.ObjectRef{Digest: doc, Size: 120, MediaType: "application/json"},
		Exchanges: []evidence.Exchange{{
			Method: "POST", URL: "https://iam.amazonaws.com/", Status: 200, RequestID: fmt.Sprintf("req-%d", i),
			StartedAt: t0, DurationMS: 12, Body: evidence.ObjectRef{Digest: body, Size: 300},
		}},
	}
}

func header(id string, start time.Time) Header {
	return Header{ID: id, Type: TypeCollection, StartedAt: start, EndedAt: start.Add(time.Minute), Outcome: OutcomeComplete, Host: "test"}
}

// seal seals a run of n envelopes and fails the test on error.
func seal(t testing.TB, repo *store.Repo, s *sign.Signer, id string, start time.Time, n int) *Sealed {
	t.Helper()
	b, err := NewBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 0; i < n; i++ {
		if err := b.Add(envelope(i)); err != nil {
			t.Fatal(err)
		}
	}
	sealed, err := Seal(context.Background(), repo, s, header(id, start), b)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// copyObject copies object d from one store to another, as a test's way to assemble
// repositories that a single writer never would (forks).
func copyObject(t testing.TB, from, to store.Store, d evidence.Digest) {
	t.Helper()
	ctx := context.Background()
	data, err := store.GetBytes(ctx, from, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := to.Put(ctx, d, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}
