package connector_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

func TestPageGuard(t *testing.T) {
	tests := []struct {
		name     string
		maxPages int
		tokens   []string // passed to Next in order; the last call is the one checked
		wantErr  error
		wantMsg  string
	}{
		{name: "first page", maxPages: 3, tokens: []string{""}},
		{name: "pages up to the limit", maxPages: 3, tokens: []string{"", "a", "b"}},
		{name: "one page too many", maxPages: 3, tokens: []string{"", "a", "b", "c"}, wantErr: connector.ErrTooManyPages, wantMsg: "more than 3 pages"},
		{name: "repeated token", maxPages: 10, tokens: []string{"", "tok-A", "tok-B", "tok-A"}, wantErr: connector.ErrRepeatedPageToken, wantMsg: "page 4"},
		{name: "restart from the first page", maxPages: 10, tokens: []string{"", "a", ""}, wantErr: connector.ErrRepeatedPageToken},
		{name: "default limit", maxPages: 0, tokens: pageTokens(connector.DefaultLimits.MaxPages + 1), wantErr: connector.ErrTooManyPages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := connector.NewPageGuard(connector.Limits{MaxPages: tt.maxPages})
			var err error
			for i, tok := range tt.tokens {
				err = g.Next(tok)
				if err != nil && i != len(tt.tokens)-1 {
					t.Fatalf("Next(%q) at call %d: %v", tok, i+1, err)
				}
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				if g.Pages() != len(tt.tokens) {
					t.Errorf("Pages() = %d, want %d", g.Pages(), len(tt.tokens))
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
			if connector.GapStatus(err) != evidence.StatusFailed {
				t.Errorf("gap status %s, want failed", connector.GapStatus(err))
			}
			if last := tt.tokens[len(tt.tokens)-1]; last != "" && strings.Contains(err.Error(), last) {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}
}

func pageTokens(n int) []string {
	out := make([]string, n)
	for i := 1; i < n; i++ {
		out[i] = fmt.Sprintf("tok-%d", i)
	}
	return out
}
