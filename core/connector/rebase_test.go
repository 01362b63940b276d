package connector

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

type countingBase struct {
	base  http.RoundTripper
	calls int
}

func (c *countingBase) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls++
	return c.base.RoundTrip(r)
}

// TestWithBase: a rebased capturing client still records and stores the exchange, and
// its requests leave through the new base.
func TestWithBase(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) }))
	defer srv.Close()
	orig := &http.Client{Transport: NewTransport(http.DefaultTransport, TransportOptions{Sink: mem.New()})}
	var counter *countingBase
	c := WithBase(orig, func(base http.RoundTripper) http.RoundTripper {
		counter = &countingBase{base: base}
		return counter
	})
	ctx, rec := Record(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if counter.calls != 1 || len(rec.Exchanges()) != 1 || rec.Exchanges()[0].Body.Size == 0 {
		t.Fatalf("calls %d, exchanges %+v", counter.calls, rec.Exchanges())
	}
	if orig.Transport.(*transport).base != http.DefaultTransport {
		t.Errorf("the original client was changed")
	}
}
