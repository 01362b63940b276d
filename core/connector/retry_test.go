package connector_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
		wantOK bool
	}{
		{name: "none", header: nil},
		{name: "seconds", header: map[string]string{"Retry-After": "30"}, want: 30 * time.Second, wantOK: true},
		{name: "zero", header: map[string]string{"Retry-After": "0"}, want: 0, wantOK: true},
		{name: "spaces", header: map[string]string{"Retry-After": " 7 "}, want: 7 * time.Second, wantOK: true},
		{name: "negative", header: map[string]string{"Retry-After": "-5"}},
		{name: "garbage", header: map[string]string{"Retry-After": "soon"}},
		{name: "absurdly large", header: map[string]string{"Retry-After": "99999999999"}},
		{name: "http date", header: map[string]string{"Retry-After": "Sat, 28 Nov 2026 02:01:30 GMT"}, want: 90 * time.Second, wantOK: true},
		{name: "date in the past", header: map[string]string{"Retry-After": "Sat, 28 Nov 2026 01:00:00 GMT"}, want: 0, wantOK: true},
		{name: "graph milliseconds first", header: map[string]string{"Retry-After-Ms": "1500", "Retry-After": "9"}, want: 1500 * time.Millisecond, wantOK: true},
		{name: "azure x-ms milliseconds", header: map[string]string{"x-ms-retry-after-ms": "250"}, want: 250 * time.Millisecond, wantOK: true},
		{name: "bad milliseconds fall back to seconds", header: map[string]string{"Retry-After-Ms": "x", "Retry-After": "2"}, want: 2 * time.Second, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{}}
			for k, v := range tt.header {
				resp.Header.Set(k, v)
			}
			got, ok := connector.RetryAfter(resp, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RetryAfter = %s, %v; want %s, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if _, ok := connector.RetryAfter(nil, now); ok {
		t.Error("RetryAfter(nil) reported a wait")
	}
}

func TestWait(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	short, cancelShort := context.WithTimeout(context.Background(), time.Minute)
	defer cancelShort()
	tests := []struct {
		name       string
		ctx        context.Context
		d          time.Duration
		limits     connector.Limits
		wantErr    error
		wantStatus evidence.Status
		wantMsg    string
	}{
		{name: "no wait", ctx: context.Background(), d: 0, limits: connector.DefaultLimits},
		{name: "short wait", ctx: context.Background(), d: time.Millisecond, limits: connector.DefaultLimits},
		{name: "over the cap", ctx: context.Background(), d: time.Hour, limits: connector.Limits{MaxRetryAfter: time.Minute}, wantStatus: evidence.StatusThrottled, wantMsg: "asked to wait 1h0m0s, more than the allowed 1m0s"},
		{name: "default cap", ctx: context.Background(), d: connector.DefaultLimits.MaxRetryAfter + time.Second, wantStatus: evidence.StatusThrottled},
		{name: "negative cap allows no wait", ctx: context.Background(), d: time.Millisecond, limits: connector.Limits{MaxRetryAfter: -1}, wantStatus: evidence.StatusThrottled},
		{name: "beyond the deadline", ctx: short, d: 90 * time.Second, limits: connector.Limits{MaxRetryAfter: time.Hour}, wantStatus: evidence.StatusThrottled, wantMsg: "beyond the deadline"},
		{name: "cancelled while waiting", ctx: cancelled, d: 30 * time.Minute, limits: connector.Limits{MaxRetryAfter: time.Hour}, wantErr: context.Canceled},
		{name: "cancelled, no wait", ctx: cancelled, d: 0, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := connector.Wait(tt.ctx, tt.d, tt.limits)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Wait = %v, want %v", err, tt.wantErr)
				}
			case tt.wantStatus != "":
				if err == nil || connector.GapStatus(err) != tt.wantStatus || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("Wait = %v, want a %s gap containing %q", err, tt.wantStatus, tt.wantMsg)
				}
			default:
				if err != nil {
					t.Fatalf("Wait = %v", err)
				}
			}
		})
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { done <- connector.Sleep(ctx, time.Hour) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sleep did not return when its context was cancelled")
	}
	if err := connector.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep(1ms) = %v", err)
	}
}
