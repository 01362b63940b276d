package github

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
)

func art(i int) evidence.Artefact {
	return evidence.Artefact{Kind: "github.test", Subject: fmt.Sprint(i), Document: []byte("{}")}
}

// TestOrdered: artefacts come out in submission order whatever order tasks finish in; a
// panicking task becomes a gap; a panicking producer and a failing emit end the run.
func TestOrdered(t *testing.T) {
	tests := []struct {
		name    string
		produce func(ctx context.Context, submit func(task) bool)
		emitErr int // emit fails at this artefact (1-based); 0 never
		want    []string
		wantErr string
	}{
		{
			name: "in submission order",
			produce: func(ctx context.Context, submit func(task) bool) {
				gate := make(chan struct{})
				// Ten tasks fit in the window (4×width) while the first one blocks.
				for i := 0; i < 10; i++ {
					i := i
					submit(task{"github.test", "x", func(ctx context.Context) []evidence.Artefact {
						if i == 0 {
							<-gate // the first task finishes last
						}
						if i == 9 {
							close(gate)
						}
						return []evidence.Artefact{art(i)}
					}})
				}
			},
			want: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		},
		{
			name: "a panicking task is a failed gap",
			produce: func(ctx context.Context, submit func(task) bool) {
				submit(task{"github.test", "boom", func(context.Context) []evidence.Artefact { panic("boom") }})
				submit(task{"github.test", "ok", func(context.Context) []evidence.Artefact { return one(art(1)) }})
			},
			want: []string{"boom:failed", "1"},
		},
		{
			name:    "a panicking producer ends the run",
			produce: func(ctx context.Context, submit func(task) bool) { panic("listing broke") },
			wantErr: "panic while listing: listing broke",
		},
		{
			name: "emit's error ends the run",
			produce: func(ctx context.Context, submit func(task) bool) {
				for i := 0; i < 100; i++ {
					if !submit(task{"github.test", "x", func(context.Context) []evidence.Artefact { return one(art(i)) }}) {
						return
					}
				}
			},
			emitErr: 3, want: []string{"0", "1"}, wantErr: "store full",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := ordered(context.Background(), 4, func(a evidence.Artefact) error {
				if tc.emitErr > 0 && len(got)+1 == tc.emitErr {
					return errors.New("store full")
				}
				s := a.Subject
				if a.Status.IsGap() && a.Status != "" {
					s += ":" + string(a.Status)
				}
				got = append(got, s)
				return nil
			}, tc.produce)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("ordered = %v, want %q", err, tc.wantErr)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("emitted %v, want %v", got, tc.want)
			}
		})
	}
}
