package connector

import "net/http"

// WithBase returns a client like c whose requests leave through wrap(base), where base is
// the transport under c's capturing transport (or c's transport itself when it does not
// capture), so a connector can add what only its settings know to the connection — a
// custom CA bundle, say — while its requests are still recorded, redacted and stored as
// before. c is not changed.
func WithBase(c *http.Client, wrap func(base http.RoundTripper) http.RoundTripper) *http.Client {
	out := *c
	switch t := c.Transport.(type) {
	case *transport:
		cp := *t
		cp.base = wrap(t.base)
		out.Transport = &cp
	case nil:
		out.Transport = wrap(http.DefaultTransport)
	default:
		out.Transport = wrap(t)
	}
	return &out
}
