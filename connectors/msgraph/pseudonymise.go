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
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

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
// names; it sits below every transport a connector can add (it is inside
// Options.HTTPClient), so a rewrite above it would come too late. The requests whose
// responses name people (users, registration details, sign-in and audit logs, managed
// devices; marked by withPersonalData) therefore carry the pseudonymiser as the capturing
// transport's connector.ExchangeFilter: after redaction and before hashing, it pseudonymises
// the configured properties of JSON bodies (and e-mail-like values in every string of an
// error body, and in non-JSON bodies), and e-mail-like values in the recorded URL (a lookup
// by UPN). The transport stores the pseudonymised body, hands the same bytes to the SDK,
// and lists on the exchange what was replaced where ({pseudonym
// $.value[*].userPrincipalName 999}). So no original name reaches the store, and an
// auditor can still re-derive every document from the stored raw bodies: they are exactly
// the bytes the document was derived from. Policy endpoints are not filtered.
//
// pseudonymTransport attaches a fresh filter to each personal-data request and checks that
// the transport below applied it. If it did not (Options.HTTPClient without the capturing
// transport, so nothing is stored), it pseudonymises the body itself: documents never name
// anyone, whatever the HTTP client. Manifests written before the filter existed carry the
// redaction rule "pseudonymised_body_not_stored" on person exchanges, which had no body.

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
	out, _ := p.pseudonymOf(v)
	return out
}

// pseudonymOf returns the pseudonym of a value and whether it replaced one (false for an
// empty value and for a pseudonym).
func (p *pseudonymiser) pseudonymOf(v string) (string, bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || strings.HasPrefix(v, pseudonymPrefix) {
		return v, false
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(v))
	return pseudonymPrefix + hex.EncodeToString(m.Sum(nil)[:16]), true
}

// pseudonymiseBody pseudonymises a response body of a personal-data request: the configured
// properties anywhere in a JSON body, and e-mail-like values in every other string of an
// error body (Graph's messages quote the key of a lookup) or anywhere in a body that is not
// JSON (an HTML error page). It returns the body itself when nothing was replaced, and one
// redaction per location where something was (array indices collapsed to [*]).
func (p *pseudonymiser) pseudonymiseBody(status int, body []byte) ([]byte, []evidence.Redaction, error) {
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return body, nil, nil
	case json.Valid(body):
		return p.pseudonymiseJSON(body, status >= http.StatusBadRequest)
	}
	out, n := p.replaceEmails(string(body))
	if n == 0 {
		return body, nil, nil
	}
	return []byte(out), []evidence.Redaction{{Rule: connector.RulePseudonym, Location: "body", Count: n}}, nil
}

// pseudonymiseJSON replaces the configured properties anywhere in a JSON body and, with
// freeText, e-mail-like values in every other string. Numbers are kept as written; keys
// come out sorted.
func (p *pseudonymiser) pseudonymiseJSON(body []byte, freeText bool) ([]byte, []evidence.Redaction, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, fmt.Errorf("could not decode a response body to pseudonymise it: %w", err)
	}
	w := jsonWalk{p: p, freeText: freeText, counts: map[string]int{}}
	v = w.walk(v, "$", "")
	if len(w.counts) == 0 {
		return body, nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, nil, fmt.Errorf("could not encode a pseudonymised response body: %w", err)
	}
	reds := make([]evidence.Redaction, 0, len(w.counts))
	for loc, n := range w.counts {
		reds = append(reds, evidence.Redaction{Rule: connector.RulePseudonym, Location: loc, Count: n})
	}
	sort.Slice(reds, func(i, j int) bool { return reds[i].Location < reds[j].Location })
	return bytes.TrimRight(buf.Bytes(), "\n"), reds, nil
}

// jsonWalk replaces personal values in a decoded JSON value and counts them per location.
type jsonWalk struct {
	p        *pseudonymiser
	freeText bool
	counts   map[string]int
}

// walk rewrites v, found at path under the object key key (an array's elements inherit
// their array's key, so otherMails: ["..."] is covered).
func (w *jsonWalk) walk(v any, path, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = w.walk(e, childPath(path, k), k)
		}
	case []any:
		elem := path + "[*]"
		for i, e := range x {
			x[i] = w.walk(e, elem, key)
		}
	case string:
		if w.p.props[key] {
			out, ok := w.p.pseudonymOf(x)
			if ok {
				w.counts[path]++
				return out
			}
			return x
		}
		if w.freeText {
			if out, n := w.p.replaceEmails(x); n > 0 {
				w.counts[path] += n
				return out
			}
		}
	}
	return v
}

// childPath is the JSON path of key below path: $.a.b, or $["a.b"] for a key that is not
// a plain name (annotations such as "@odata.context" have dots).
func childPath(path, key string) string {
	plain := key != ""
	for i, c := range key {
		if !(c == '_' || c == '$' || c == '@' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
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
	out, _ := p.replaceEmails(s)
	return out
}

// replaceEmails replaces e-mail-like values in s and counts them. Leading quotes stay
// outside the pseudonym: messages and OData filters quote values ('alice@contoso.com'),
// and the quoted value must get the same pseudonym as the bare one.
func (p *pseudonymiser) replaceEmails(s string) (string, int) {
	n := 0
	out := reEmail.ReplaceAllStringFunc(s, func(m string) string {
		n++
		q := len(m) - len(strings.TrimLeft(m, "'"))
		return m[:q] + p.pseudonym(m[q:])
	})
	return out, n
}

// pseudonymiseURL replaces e-mail-like values in the path and query of u (a lookup by UPN,
// a filter on a mail address) by their pseudonyms, in place. Query parameters that name
// nobody are kept exactly as sent.
func (p *pseudonymiser) pseudonymiseURL(u *url.URL) {
	if path := p.pseudonymiseText(u.Path); path != u.Path {
		u.Path, u.RawPath = path, ""
	}
	if u.RawQuery == "" {
		return
	}
	parts := strings.Split(u.RawQuery, "&")
	changed := false
	for i, part := range parts {
		name, value, _ := strings.Cut(part, "=")
		dec, err := url.QueryUnescape(value)
		switch {
		case err != nil:
			if out := p.pseudonymiseText(part); out != part {
				parts[i], changed = out, true
			}
		case reEmail.MatchString(dec):
			parts[i], changed = name+"="+url.QueryEscape(p.pseudonymiseText(dec)), true
		}
	}
	if changed {
		u.RawQuery = strings.Join(parts, "&")
	}
}

type personalKey struct{}

// withPersonalData marks requests whose responses name people: with pseudonymisation on,
// pseudonymTransport gives them the pseudonymiser as exchange filter.
func withPersonalData(ctx context.Context) context.Context {
	return context.WithValue(ctx, personalKey{}, true)
}

func isPersonal(ctx context.Context) bool {
	v, _ := ctx.Value(personalKey{}).(bool)
	return v
}

// personFilter is the exchange filter of one personal-data request. called tells
// pseudonymTransport whether the transport below applied it.
type personFilter struct {
	p      *pseudonymiser
	called atomic.Bool
}

var _ connector.ExchangeFilter = (*personFilter)(nil)

// FilterBody implements connector.ExchangeFilter.
func (f *personFilter) FilterBody(status int, _ string, body []byte) ([]byte, []evidence.Redaction, error) {
	f.called.Store(true)
	return f.p.pseudonymiseBody(status, body)
}

// FilterURL implements connector.ExchangeFilter.
func (f *personFilter) FilterURL(u *url.URL) { f.p.pseudonymiseURL(u) }

// pseudonymTransport has the capturing transport pseudonymise the responses of
// personal-data requests (see the comment at the top of this file), and does it itself
// when the transport below is not the capturing transport.
type pseudonymTransport struct {
	next  http.RoundTripper
	pseud *pseudonymiser
}

func (t *pseudonymTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.pseud == nil || !isPersonal(ctx) {
		return t.next.RoundTrip(req)
	}
	f := &personFilter{p: t.pseud}
	resp, err := t.next.RoundTrip(req.WithContext(connector.WithExchangeFilter(ctx, f)))
	if err != nil || f.called.Load() {
		return resp, err
	}
	// Nothing below applied the filter, so nothing below stored the body either; the SDK
	// and the documents must still get it pseudonymised.
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		u := *req.URL
		t.pseud.pseudonymiseURL(&u)
		return nil, fmt.Errorf("could not read the response body of %s: %w", connector.SanitizeURL(&u), err)
	}
	out, _, err := f.FilterBody(resp.StatusCode, resp.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, connector.AsGap(evidence.StatusFailed, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Content-Encoding")
	return resp, nil
}
