package connector

import (
	"errors"
	"fmt"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Errors a PageGuard returns, wrapped in a failed GapError. Test with errors.Is.
var (
	// ErrTooManyPages: a listing needs more pages than Limits.MaxPages allows.
	ErrTooManyPages = errors.New("too many pages")
	// ErrRepeatedPageToken: the upstream handed out a pagination token it had handed out
	// before, so following it would loop.
	ErrRepeatedPageToken = errors.New("pagination token repeated")
)

// PageGuard protects one paginated listing from running away: an upstream that loops
// (hands out a token twice) or a listing longer than Limits.MaxPages. Either makes the
// listing incomplete, so the artefact becomes a gap (status failed) rather than evidence.
//
//	g := connector.NewPageGuard(opts.Limits)
//	for token := ""; ; {
//		if err := g.Next(token); err != nil {
//			return emit(connector.NewGap(kind, subject, connector.GapStatus(err), err))
//		}
//		page, err := list(ctx, token)
//		...
//		if token = page.Next; token == "" {
//			break
//		}
//	}
//
// A PageGuard is for one listing, used by one goroutine.
type PageGuard struct {
	max   int
	pages int
	seen  map[string]struct{}
}

// NewPageGuard returns a guard allowing limits.MaxPages pages (DefaultLimits.MaxPages if
// not set).
func NewPageGuard(limits Limits) *PageGuard {
	m := limits.MaxPages
	if m <= 0 {
		m = DefaultLimits.MaxPages
	}
	return &PageGuard{max: m, seen: map[string]struct{}{}}
}

// Next is called before fetching each page, the first included, with the token that
// fetches it ("" for the first page; for link-based APIs the next URL). It returns an
// error if the token was seen before in this listing or if the page would exceed the limit.
// The error never contains the token.
func (g *PageGuard) Next(token string) error {
	if _, dup := g.seen[token]; dup {
		return AsGap(evidence.StatusFailed, fmt.Errorf("%w: the token for page %d was already used for an earlier page; the upstream pagination loops", ErrRepeatedPageToken, g.pages+1))
	}
	if g.pages >= g.max {
		return AsGap(evidence.StatusFailed, fmt.Errorf("%w: the listing has more than %d pages (limits.max_pages)", ErrTooManyPages, g.max))
	}
	g.seen[token] = struct{}{}
	g.pages++
	return nil
}

// Pages returns how many pages Next has allowed.
func (g *PageGuard) Pages() int { return g.pages }
