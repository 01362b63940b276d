package msgraph

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// Personal data and where it may be stored.
//
// Entra evidence names staff (and, in schools, pupils). With `pseudonymise` set, the
// configured fields are replaced by keyed pseudonyms: "psn:" and the first 128 bits of
// HMAC-SHA256(key, lower-cased trimmed value), hex. The key comes through Options.Secrets and
// is never stored, so the same person gets the same pseudonym in every run (evidence stays
// linkable across runs) while the store alone does not reveal who it is.
//
// The capturing transport stores raw response bodies, and those would hold the original
// names. The pseudonymiser therefore works on the HTTP layer, on the response bodies of the
// endpoints that return people (users, registration details, sign-in and audit logs,
// managed devices), before anything else reads them. Since the capturing transport sits
// below every transport a connector can add (it is inside Options.HTTPClient), such
// requests are sent with the exchange recorder hidden from it: it neither stores their
// bodies nor records them, and this layer records the exchange itself (method, URL, status,
// request id, timing) with no body and a redaction entry "pseudonymised_body_not_stored".
// So with pseudonymisation on, no original name reaches the store, at the price that the
// raw bodies of person endpoints are not kept for re-performance; policy endpoints are
// recorded in full as usual. If the transport learns to apply a per-request body filter
// before it stores a body, pseudonymiseJSON is that filter and the bodies can be kept.

// pseudonymFields maps the configurable field names to the Graph properties they cover.
var pseudonymFields = map[string][]string{
	"userPrincipalName": {"userPrincipalName"},
	"mail":              {"mail", "emailAddress", "otherMails"},
	"displayName":       {"displayName", "userDisplayName"},
	"givenName":         {"givenName"},
	"surname":           {"surname"},
	"deviceName":        {"deviceName"},
}

func pseudonymFieldNames() []string {
	var out []string
	for k := range pseudonymFields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pseudonymPrefix marks a pseudonym, so documents say what they hold.
const pseudonymPrefix = "psn:"

// RedactionPseudonymisedBody is the redaction rule recorded on an exchange whose body was
// not stored because it held personal data that had to be pseudonymised first.
const RedactionPseudonymisedBody = "pseudonymised_body_not_stored"

// pseudonymiser replaces personal values with keyed pseudonyms. It is safe for concurrent use.
type pseudonymiser struct {
	key   []byte
	props map[string]bool
}

func newPseudonymiser(key []byte, fields []string) *pseudonymiser {
	p := &pseudonymiser{key: key, props: map[string]bool{}}
	for _, f := range fields {
		for _, prop := range pseudonymFields[f] {
			p.props[prop] = true
		}
	}
	return p
}

// pseudonym returns the pseudonym of a value. Empty values stay empty: there is nobody to hide.
func (p *pseudonymiser) pseudonym(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || strings.HasPrefix(v, pseudonymPrefix) {
		return v
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(v))
	return pseudonymPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// pseudonymiseJSON replaces the configured properties anywhere in a JSON body. Numbers are
// kept as written. It returns the body unchanged if it is not JSON (an empty body, an HTML
// error page): there is no property to find in it.
func (p *pseudonymiser) pseudonymiseJSON(body []byte) ([]byte, error) {
	if len(bytes.TrimSpace(body)) == 0 || !json.Valid(body) {
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("could not decode a response body to pseudonymise it: %w", err)
	}
	v = p.walk(v, "")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("could not encode a pseudonymised response body: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func (p *pseudonymiser) walk(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = p.walk(e, k)
		}
	case []any:
		for i, e := range x {
			x[i] = p.walk(e, key)
		}
	case string:
		if p.props[key] {
			return p.pseudonym(x)
		}
	}
	return v
}

// pseudonymisedPaths lists the paths of a document that hold pseudonyms, array indices
// collapsed ("users[].userPrincipalName"), sorted. It streams the document's tokens, so a
// 50,000-row document is not decoded into a tree.
func pseudonymisedPaths(doc []byte) ([]string, error) {
	type frame struct {
		array   bool
		path    string
		key     string // an object's current key
		wantKey bool   // an object's next string is a key
	}
	var stack []*frame
	found := map[string]bool{}
	// here is the path of a value at the current position.
	here := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		switch {
		case top.array:
			return top.path + "[]"
		case top.path == "":
			return top.key
		default:
			return top.path + "." + top.key
		}
	}
	valueDone := func() {
		if len(stack) > 0 && !stack[len(stack)-1].array {
			stack[len(stack)-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("could not scan the document for pseudonyms: %w", err)
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{array: t == '[', path: here(), wantKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if len(stack) > 0 && stack[len(stack)-1].wantKey {
				stack[len(stack)-1].key = t
				stack[len(stack)-1].wantKey = false
				continue
			}
			if strings.HasPrefix(t, pseudonymPrefix) {
				found[here()] = true
			}
			valueDone()
		default:
			valueDone()
		}
	}
	out := make([]string, 0, len(found))
	for k := range found {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// reEmail finds e-mail-like values (user principal names, mail addresses) in free text:
// Graph error messages and request URLs of lookups by UPN.
var reEmail = regexp.MustCompile(`[A-Za-z0-9._%+#'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)

// pseudonymiseText replaces e-mail-like values in free text by their pseudonyms.
func (p *pseudonymiser) pseudonymiseText(s string) string {
	return reEmail.ReplaceAllStringFunc(s, p.pseudonym)
}

type personalKey struct{}

// withPersonalData marks requests whose responses name people.
func withPersonalData(ctx context.Context) context.Context {
	return context.WithValue(ctx, personalKey{}, true)
}

func isPersonal(ctx context.Context) bool {
	v, _ := ctx.Value(personalKey{}).(bool)
	return v
}

// unrecorded hides the exchange recorder of ctx (connector.RecorderFrom returns nil below
// it) while keeping its deadline, cancellation and other values.
type unrecorded struct{ context.Context }

func (c unrecorded) Value(key any) any {
	v := c.Context.Value(key)
	if _, ok := v.(*connector.Recorder); ok {
		return nil
	}
	return v
}

// pseudonymTransport pseudonymises the bodies of personal-data requests above the
// capturing transport (see the comment at the top of this file).
type pseudonymTransport struct {
	next  http.RoundTripper
	pseud *pseudonymiser
	clock Clock
}

func (t *pseudonymTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.pseud == nil || !isPersonal(ctx) {
		return t.next.RoundTrip(req)
	}
	rec := connector.RecorderFrom(ctx)
	start := t.clock.Now()
	resp, err := t.next.RoundTrip(req.WithContext(unrecorded{ctx}))
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("could not read the response body of %s: %w", connector.SanitizeURL(req.URL), err)
	}
	out, err := t.pseud.pseudonymiseJSON(body)
	if err != nil {
		return nil, connector.AsGap(evidence.StatusFailed, err)
	}
	if resp.StatusCode >= 400 {
		// Error messages may quote the key of a lookup (a UPN); they end up in gap messages.
		out = []byte(t.pseud.pseudonymiseText(string(out)))
	}
	if rec != nil {
		// A lookup by UPN has it (percent-encoded) in the path; the manifest gets the pseudonym.
		u := *req.URL
		u.Path, u.RawPath = t.pseud.pseudonymiseText(u.Path), ""
		rec.Add(evidence.Exchange{
			Method: req.Method, URL: connector.SanitizeURL(&u), Status: resp.StatusCode,
			RequestID: connector.RequestID(resp.Header), StartedAt: start.UTC(),
			DurationMS: t.clock.Now().Sub(start).Milliseconds(),
			Redactions: []evidence.Redaction{{Rule: RedactionPseudonymisedBody, Location: "body", Count: 1}},
		})
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Content-Encoding")
	return resp, nil
}
