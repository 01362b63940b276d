package connectortest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// canaryMark is in every planted secret, in the part the redactor must remove, and nowhere
// else: finding it anywhere the suite looks means a secret leaked.
const canaryMark = "CANARY"

// canaryText is free text holding secrets in the formats the redactor recognises anywhere
// (a GitHub token, a Slack token, a JWT), as a careless admin writes them into a
// description or a careless upstream into an error message.
var canaryText = "rotate ghp_CANARY" + strings.Repeat("0", 30) +
	" and xoxb-CANARY-1234567890-abcdef, id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.CANARYsignature_abc"

// freeText are the JSON keys and XML elements whose values are free text an upstream
// returns as written: canaries are appended to them.
var freeText = map[string]bool{"description": true, "bio": true, "note": true, "notes": true, "comment": true, "message": true}

var xmlFreeText = regexp.MustCompile(`<(Description|Comment|Message)>([^<]*)</(Description|Comment|Message)>`)

// canaryPlanter adds canaries to a simulator's responses: to free-text JSON fields and
// XML elements, as a "client_secret" key of each JSON response object, and in headers.
type canaryPlanter struct {
	next    http.Handler
	planted atomic.Int64
}

func (p *canaryPlanter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &responseBuffer{header: http.Header{}}
	p.next.ServeHTTP(rec, r)
	body := rec.body.Bytes()
	if rec.header.Get("Content-Encoding") == "" {
		ct := rec.header.Get("Content-Type")
		switch {
		case strings.Contains(ct, "json"):
			body = p.plantJSON(body)
		case strings.Contains(ct, "xml"):
			body = xmlFreeText.ReplaceAllFunc(body, func(m []byte) []byte {
				p.planted.Add(1)
				i := bytes.LastIndex(m, []byte("</"))
				return append(append(append([]byte(nil), m[:i]...), " "+canaryText...), m[i:]...)
			})
		}
	}
	for k, vs := range rec.header {
		w.Header()[k] = vs
	}
	w.Header().Add("Set-Cookie", "session="+canaryMark+"cookie")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(body)
}

func (p *canaryPlanter) plantJSON(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && freeText[strings.ToLower(k)] {
					x[k] = s + " " + canaryText
					p.planted.Add(1)
				} else {
					walk(e)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if m, ok := v.(map[string]any); ok {
		m["client_secret"] = canaryMark + "-client-secret"
		p.planted.Add(1)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *responseBuffer) Header() http.Header { return b.header }
func (b *responseBuffer) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *responseBuffer) Write(p []byte) (int, error) { return b.body.Write(p) }

// canaryFaults answer every request with an error that quotes secrets, in JSON (GitHub,
// Graph, AWS JSON protocols) and in XML (AWS query protocols).
var canaryFaults = []simkit.Fault{
	{Kind: simkit.Forbidden, Header: http.Header{"Content-Type": {"application/json"}, "Www-Authenticate": {"Bearer " + canaryMark + "bearer0123456789"}},
		Body: `{"message":"Bad credentials: ` + canaryText + `","__type":"AccessDeniedException","Message":"` + canaryText +
			`","error":{"code":"Authorization_RequestDenied","message":"` + canaryText + `"}}`},
}

var canaryXMLFaults = []simkit.Fault{
	{Kind: simkit.Forbidden, Header: http.Header{"Content-Type": {"text/xml"}},
		Body: `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized: ` + canaryText +
			`</Message></Error><RequestId>canary-request</RequestId></ErrorResponse>`},
}

// canaries collects with canaries planted in the responses, and with errors that quote
// them, and looks for them in documents, gap errors, Collect's error, logs and every
// stored body.
func (s *suite) canaries(t *testing.T, r *report) {
	planter := &canaryPlanter{}
	runs := map[string]*collection{
		"planted":     s.collect(t, func(h http.Handler) http.Handler { planter.next = h; return planter }, s.limits(), 0),
		"json errors": s.collect(t, s.withFaults(new(atomic.Int64), canaryFaults...), faultLimits, 0),
		"xml errors":  s.collect(t, s.withFaults(new(atomic.Int64), canaryXMLFaults...), faultLimits, 0),
	}
	if planter.planted.Load() == 0 {
		r.errorf("no canary could be planted in the simulator's responses: the check proves nothing")
	}
	redacted := false
	for _, run := range sortedSet(runs) {
		c := runs[run]
		look := func(place, text string) {
			if i := strings.Index(text, canaryMark); i >= 0 {
				r.errorf("%s: canary leaked into %s: …%s…", run, place, text[max(0, i-60):min(len(text), i+40)])
			}
		}
		// Errors and documents are checked as the runner stores them (it redacts both once
		// more); the logs and the stored bodies as they are.
		red := connector.DefaultRedactor()
		if c.err != nil {
			look("Collect's error", red.RedactString(c.err.Error()))
		}
		for _, a := range c.arts {
			doc := a.Document
			if len(doc) > 0 {
				var err error
				if doc, _, err = red.RedactJSONDocument(a.Document); err != nil {
					r.errorf("%s: the document of %s %s cannot be redacted: %v", run, a.Kind, a.Subject, err)
				}
			}
			look("the document of "+a.Kind+" "+a.Subject, string(doc))
			look("the gap error of "+a.Kind+" "+a.Subject, red.RedactString(a.Error))
			x, _ := json.Marshal(a.Exchanges)
			look("the exchanges of "+a.Kind+" "+a.Subject, string(x))
			redacted = redacted || bytes.Contains(a.Document, []byte("[REDACTED"))
		}
		look("the logs", c.logs.String())
		ctx := context.Background()
		c.store.List(ctx, func(info store.Info) error {
			b, err := store.GetBytes(ctx, c.store, info.Digest)
			if err != nil {
				return err
			}
			look("stored body "+info.Digest.String(), string(b))
			redacted = redacted || bytes.Contains(b, []byte("[REDACTED"))
			return nil
		})
	}
	if !redacted {
		r.errorf("no planted canary reached a document or a stored body (nothing was redacted): the check proves nothing")
	}
}
