package connector_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// page1KiB returns a 1 KiB JSON document shaped like one GitHub repository, unique per n
// so that every stored body is a new object.
func page1KiB(n int64) []byte {
	doc := fmt.Sprintf(`{"id":%d,"node_id":"R_kgDOExample%d","name":"payments","full_name":"acme/payments",`+
		`"private":true,"owner":{"login":"acme","id":1,"type":"Organization","site_admin":false},`+
		`"html_url":"https://github.com/acme/payments","description":"Payment service","fork":false,`+
		`"url":"https://api.github.com/repos/acme/payments","created_at":"2020-01-01T00:00:00Z",`+
		`"updated_at":"2026-11-27T12:00:00Z","pushed_at":"2026-11-27T12:00:00Z","default_branch":"main",`+
		`"visibility":"private","topics":["payments","pci"],"archived":false,"disabled":false,`+
		`"permissions":{"admin":true,"maintain":true,"push":true,"triage":true,"pull":true},`+
		`"security_and_analysis":{"secret_scanning":{"status":"enabled"},"secret_scanning_push_protection":{"status":"enabled"},"dependabot_security_updates":{"status":"enabled"}},`+
		`"allow_forking":false,"license":null,"has_issues":true,"has_wiki":false,"pad":"`, n, n)
	const text = "Handles card payments for the acme shop. "
	b := make([]byte, 0, 1024)
	b = append(b, doc...)
	for i := 0; len(b) < 1024-2; i++ {
		b = append(b, text[i%len(text)])
	}
	return append(b, '"', '}')
}

// BenchmarkTransport measures one exchange with a 1 KiB JSON body against the same
// httptest server: "plain" is an http.Client on the same base transport (the baseline),
// "capture" adds recording, redaction, hashing and storing into the mem store. The
// "inprocess" pair replaces the network with a canned response, isolating the transport's
// own cost. Compare ns/op of each pair; exchanges/s is reported too.
func BenchmarkTransport(b *testing.B) {
	var counter atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := page1KiB(counter.Add(1))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("X-GitHub-Request-Id", "ABCD:1234:5678")
		w.Write(body)
	}))
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 4}
	defer base.CloseIdleConnections()

	run := func(b *testing.B, client *http.Client, record bool) {
		ctx := context.Background()
		var rec *connector.Recorder
		if record {
			ctx, rec = connector.Record(ctx)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/repos/acme/payments?per_page=100", nil)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if rec != nil {
				rec.Reset()
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
	}
	b.Run("plain", func(b *testing.B) { run(b, &http.Client{Transport: base}, false) })
	b.Run("capture", func(b *testing.B) {
		run(b, &http.Client{Transport: connector.NewTransport(base, connector.TransportOptions{Sink: mem.New()})}, true)
	})

	canned := cannedTransport{}
	b.Run("inprocess/plain", func(b *testing.B) { run(b, &http.Client{Transport: canned}, false) })
	b.Run("inprocess/capture", func(b *testing.B) {
		run(b, &http.Client{Transport: connector.NewTransport(canned, connector.TransportOptions{Sink: mem.New()})}, true)
	})
}

// BenchmarkTransportRatio alternates a plain and a capturing exchange against the same
// httptest server in every iteration, so that both see the same machine load (the
// machine is shared), and reports their ratio and the capturing exchanges per second.
func BenchmarkTransportRatio(b *testing.B) {
	var counter atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := page1KiB(counter.Add(1))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 4}
	defer base.CloseIdleConnections()
	plain := &http.Client{Transport: base}
	capture := &http.Client{Transport: connector.NewTransport(base, connector.TransportOptions{Sink: mem.New()})}
	ctx, rec := connector.Record(context.Background())
	plainReq, _ := http.NewRequest(http.MethodGet, srv.URL+"/repos", nil)
	captureReq, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/repos", nil)
	do := func(c *http.Client, req *http.Request) time.Duration {
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start)
	}
	var tPlain, tCapture time.Duration
	for b.Loop() {
		tPlain += do(plain, plainReq)
		tCapture += do(capture, captureReq)
		rec.Reset()
	}
	b.ReportMetric(float64(tCapture)/float64(tPlain), "capture/plain")
	b.ReportMetric(float64(b.N)/tCapture.Seconds(), "capture-exchanges/s")
	b.ReportMetric(float64(tCapture-tPlain)/float64(b.N), "overhead-ns/exchange")
}

// cannedTransport answers every request with a fresh 1 KiB JSON body, without a network.
type cannedTransport struct{}

var cannedCounter atomic.Int64

func (cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body := page1KiB(cannedCounter.Add(1))
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}, "X-Github-Request-Id": {"ABCD"}},
		Body:          io.NopCloser(bytesReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

type byteReader struct {
	b []byte
	i int
}

func bytesReader(b []byte) *byteReader { return &byteReader{b: b} }

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

// page1MiB is a 1 MiB JSON listing page (GitHub-repository-shaped items, a few with
// secrets a careless API might return), for the redaction benchmark.
func page1MiB() []byte {
	type item struct {
		Repo          json.RawMessage `json:"repo"`
		WebhookSecret string          `json:"webhook_secret,omitempty"`
		Note          string          `json:"note,omitempty"`
	}
	var items []item
	size := 0
	for i := int64(0); size < 1<<20; i++ {
		it := item{Repo: page1KiB(i)}
		if i%100 == 0 {
			it.WebhookSecret = "s3cr3t"
			it.Note = "see https://hooks.slack.com/services/T0/B0/XXXX"
		}
		items = append(items, it)
		size += len(it.Repo) + 40
	}
	b, _ := json.Marshal(map[string]any{"total_count": len(items), "items": items})
	return b
}

// BenchmarkRedactJSON compares redacting a 1 MiB JSON page with the baselines json.Valid
// (one validating pass) and SHA-256 (what storing it costs anyway). The ratio of
// "redact" to "json.Valid" ns/op is the redaction overhead.
func BenchmarkRedactJSON(b *testing.B) {
	page := page1MiB()
	r := connector.DefaultRedactor()
	if _, reds := r.Redact("application/json", page); len(reds) == 0 {
		b.Fatal("benchmark page has nothing to redact")
	}
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			if !json.Valid(page) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			sha256.Sum256(page)
		}
	})
	b.Run("redact", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			r.Redact("application/json", page)
		}
	})
}

// BenchmarkRedactRatio alternates json.Valid, SHA-256 and redaction of the same 1 MiB page
// in every iteration, so that all three see the same load on the shared machine, and
// reports redaction's cost relative to each baseline.
func BenchmarkRedactRatio(b *testing.B) {
	page := page1MiB()
	r := connector.DefaultRedactor()
	var tValid, tSum, tRedact time.Duration
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		start := time.Now()
		json.Valid(page)
		tValid += time.Since(start)
		start = time.Now()
		sha256.Sum256(page)
		tSum += time.Since(start)
		start = time.Now()
		r.Redact("application/json", page)
		tRedact += time.Since(start)
	}
	b.ReportMetric(float64(tRedact)/float64(tValid), "redact/json.Valid")
	b.ReportMetric(float64(tRedact)/float64(tSum), "redact/sha256")
}
