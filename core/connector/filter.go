package connector

import (
	"context"
	"net/url"

	"github.com/exhibit-dev/exhibit/evidence"
)

// ExchangeFilter rewrites what the capturing transport records and returns for one request,
// after redaction and before hashing and storing, e.g. to pseudonymise personal data. It
// exists because the capturing transport sits below every transport a connector can add: a
// rewrite above it would come after the raw body was stored.
//
// The transport calls the methods from the goroutine that made the request, at most once
// each per exchange (FilterURL also for a request that got no response, for its log line).
type ExchangeFilter interface {
	// FilterBody returns the body to store, hash and hand to the caller, and what it
	// replaced (one evidence.Redaction per rule and location, aggregated: a rule applied to
	// one field of every row of a page is one entry, e.g. "$.value[*].userPrincipalName"
	// with a count, never one entry per row). body is the redacted response body, gzip
	// decoded; the filter may return it, modify it or return a new slice. A non-nil error
	// fails the request; it must not quote the body (the transport adds the operation, the
	// sanitised and filtered URL and the status, and removes secrets, but cannot know which
	// other values are personal).
	FilterBody(status int, contentType string, body []byte) ([]byte, []evidence.Redaction, error)
	// FilterURL rewrites u in place before it is sanitised for the exchange record, the
	// transport's errors and its debug log, e.g. a user principal name in a lookup path.
	// u is a copy: the request sent upstream is not changed.
	FilterURL(u *url.URL)
}

// RulePseudonym is the rule of a redaction that replaced personal values by pseudonyms (as
// an ExchangeFilter reports it), e.g. {pseudonym $.value[*].userPrincipalName 999}.
const RulePseudonym = "pseudonym"

type filterKey struct{}

// WithExchangeFilter returns a context whose requests the capturing transport passes through
// f (see ExchangeFilter), replacing any filter of ctx; a nil f removes it. The filter
// applies to recorded requests (stored body, exchange URL and redactions, the body handed to
// the caller) and to unrecorded ones (the body handed to the caller and the debug log), so a
// response that must be filtered never reaches the caller unfiltered.
//
// Connectors should not rely on it being applied: a transport that is not the capturing
// transport ignores the context. A filter that must not be skipped checks that it was
// called (see the msgraph connector's pseudonymiser).
func WithExchangeFilter(ctx context.Context, f ExchangeFilter) context.Context {
	return context.WithValue(ctx, filterKey{}, f)
}

// ExchangeFilterFrom returns the exchange filter of ctx, or nil.
func ExchangeFilterFrom(ctx context.Context) ExchangeFilter {
	f, _ := ctx.Value(filterKey{}).(ExchangeFilter)
	return f
}

// filteredURL returns the text of a request URL fit for records, errors and logs: passed
// through the filter (on a copy) if there is one, then sanitised.
func filteredURL(u *url.URL, f ExchangeFilter) string {
	if u == nil {
		return ""
	}
	if f != nil {
		c := *u
		if u.User != nil {
			user := *u.User
			c.User = &user
		}
		f.FilterURL(&c)
		return SanitizeURL(&c)
	}
	return SanitizeURL(u)
}
