package connector

import (
	"context"
	"sync"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Recorder collects the HTTP exchanges made with a context, so that a connector can attach
// to each artefact exactly the exchanges its document was derived from.
//
//	ctx, rec := connector.Record(ctx)
//	out, err := client.GetAccountPasswordPolicy(ctx, in)
//	art := evidence.Artefact{Kind: ..., Document: ..., Exchanges: rec.Exchanges()}
//
// The capturing transport in Options.HTTPClient appends to the recorder it finds in the
// request's context. A Recorder is safe for concurrent use.
type Recorder struct {
	mu        sync.Mutex
	exchanges []evidence.Exchange
	parent    *Recorder
}

type recorderKey struct{}

// Record returns a context that records exchanges into a new Recorder. If ctx already
// records, exchanges are recorded in both (so a connector can record one artefact's calls
// inside a wider recording).
func Record(ctx context.Context) (context.Context, *Recorder) {
	rec := &Recorder{parent: RecorderFrom(ctx)}
	return context.WithValue(ctx, recorderKey{}, rec), rec
}

// RecorderFrom returns the recorder of ctx, or nil if ctx does not record.
func RecorderFrom(ctx context.Context) *Recorder {
	rec, _ := ctx.Value(recorderKey{}).(*Recorder)
	return rec
}

// Add appends an exchange (and to the enclosing recorders).
func (r *Recorder) Add(x evidence.Exchange) {
	for ; r != nil; r = r.parent {
		r.mu.Lock()
		r.exchanges = append(r.exchanges, x)
		r.mu.Unlock()
	}
}

// Exchanges returns a copy of the exchanges recorded so far, in the order they completed.
func (r *Recorder) Exchanges() []evidence.Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]evidence.Exchange(nil), r.exchanges...)
}

// Reset forgets the exchanges recorded so far (not those of enclosing recorders).
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.exchanges = nil
	r.mu.Unlock()
}
