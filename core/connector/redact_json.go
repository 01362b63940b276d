package connector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// maxJSONDepth bounds nesting, as encoding/json does, so a hostile body cannot exhaust the
// stack.
const maxJSONDepth = 10000

// jsonEdits walks a JSON document and returns the edits that redact it: string values of
// secret keys, and the free-text spans found inside other string values. It returns
// errNotJSON (wrapped, with the offset) if src is not valid JSON.
//
// It is a single-pass scanner over the bytes, not a decoder: nothing is allocated for
// values that are not redacted, and the output keeps every byte of the input (key order,
// whitespace, number spelling) except the redacted string contents.
func (r *Redactor) jsonEdits(src []byte, spans []span, fields []fieldPattern) ([]edit, error) {
	w := jsonWalker{r: r, src: src, spans: spans, fields: fields}
	if err := w.value("", 0); err != nil {
		return nil, err
	}
	w.ws()
	if w.pos != len(w.src) {
		return nil, w.errorf("data after the JSON value")
	}
	return w.edits, nil
}

type jsonWalker struct {
	r     *Redactor
	src   []byte
	pos   int
	spans []span
	si    int
	path  []pathElem
	edits []edit
	names nameCache
	// fields are the declared secret fields that apply to this document.
	fields []fieldPattern
}

// pathElem is one step of a JSON path: an object key or an array index.
type pathElem struct {
	key   []byte // raw bytes of src unless the key had escapes
	index int
	isKey bool
}

func (w *jsonWalker) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", errNotJSON, w.pos, fmt.Sprintf(format, args...))
}

func (w *jsonWalker) ws() {
	for w.pos < len(w.src) {
		switch w.src[w.pos] {
		case ' ', '\t', '\r', '\n':
			w.pos++
		default:
			return
		}
	}
}

// value walks one value. secret is the rule of the key it belongs to ("" if none); arrays
// pass it on to their elements, objects do not (their own keys decide).
func (w *jsonWalker) value(secret string, depth int) error {
	if depth > maxJSONDepth {
		return w.errorf("nested deeper than %d", maxJSONDepth)
	}
	w.ws()
	if w.pos >= len(w.src) {
		return w.errorf("unexpected end")
	}
	switch c := w.src[w.pos]; {
	case c == '{':
		return w.object(depth)
	case c == '[':
		return w.array(secret, depth)
	case c == '"':
		start, end, err := w.str()
		if err != nil {
			return err
		}
		w.stringValue(start, end, secret)
		return nil
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return w.number()
	default:
		return w.errorf("unexpected %q", c)
	}
}

func (w *jsonWalker) object(depth int) error {
	w.pos++ // {
	w.ws()
	if w.pos < len(w.src) && w.src[w.pos] == '}' {
		w.pos++
		return nil
	}
	for {
		w.ws()
		if w.pos >= len(w.src) || w.src[w.pos] != '"' {
			return w.errorf("want an object key")
		}
		ks, ke, err := w.str()
		if err != nil {
			return err
		}
		w.skipSpansBefore(ke)
		raw := w.src[ks+1 : ke-1]
		key := raw
		if bytes.IndexByte(raw, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(w.src[ks:ke], &s); err != nil {
				return w.errorf("invalid object key: %v", err)
			}
			key = []byte(s)
		}
		w.ws()
		if w.pos >= len(w.src) || w.src[w.pos] != ':' {
			return w.errorf("want ':' after an object key")
		}
		w.pos++
		w.path = append(w.path, pathElem{key: key, isKey: true})
		if err := w.value(w.r.keyRule(key), depth+1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		w.ws()
		if w.pos >= len(w.src) {
			return w.errorf("unexpected end in an object")
		}
		switch w.src[w.pos] {
		case ',':
			w.pos++
		case '}':
			w.pos++
			return nil
		default:
			return w.errorf("want ',' or '}' in an object")
		}
	}
}

func (w *jsonWalker) array(secret string, depth int) error {
	w.pos++ // [
	w.ws()
	if w.pos < len(w.src) && w.src[w.pos] == ']' {
		w.pos++
		return nil
	}
	for i := 0; ; i++ {
		w.path = append(w.path, pathElem{index: i})
		if err := w.value(secret, depth+1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		w.ws()
		if w.pos >= len(w.src) {
			return w.errorf("unexpected end in an array")
		}
		switch w.src[w.pos] {
		case ',':
			w.pos++
		case ']':
			w.pos++
			return nil
		default:
			return w.errorf("want ',' or ']' in an array")
		}
	}
}

// str scans the string starting at w.pos (a '"') and returns its bounds, quotes included.
func (w *jsonWalker) str() (start, end int, err error) {
	start = w.pos
	i := start + 1
	for {
		k := bytes.IndexByte(w.src[i:], '"')
		if k < 0 {
			w.pos = len(w.src)
			return 0, 0, w.errorf("unterminated string")
		}
		q := i + k
		bs := 0
		for j := q - 1; j > start && w.src[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			w.pos = q + 1
			return start, q + 1, nil
		}
		i = q + 1
	}
}

// stringValue redacts the string src[start:end] (quotes included): all of it if it is the
// value of a secret key, else the free-text secrets inside it.
func (w *jsonWalker) stringValue(start, end int, secret string) {
	content := w.src[start+1 : end-1]
	if secret == "" && len(w.fields) > 0 {
		secret = fieldRule(w.fields, w.path)
	}
	if secret != "" && !masked(content) {
		w.skipSpansBefore(end)
		w.edits = append(w.edits, edit{start: start + 1, end: end - 1, rule: secret, location: w.location()})
		return
	}
	found := false
	for ; w.si < len(w.spans) && w.spans[w.si].start < end; w.si++ {
		s := w.spans[w.si]
		if s.start <= start {
			continue
		}
		e := min(s.end, end-1)
		if e > s.start {
			w.edits = append(w.edits, edit{start: s.start, end: e, rule: s.rule, location: w.location()})
			found = true
		}
	}
	if !found && len(content) >= minShapeLen {
		if rule := w.r.shapeRule(&w.names, w.key(), content); rule != "" {
			w.edits = append(w.edits, edit{start: start + 1, end: end - 1, rule: rule, location: w.location()})
		}
	}
}

// key returns the name of the innermost object key on the path (nil at the top level).
func (w *jsonWalker) key() []byte {
	for i := len(w.path) - 1; i >= 0; i-- {
		if w.path[i].isKey {
			return w.path[i].key
		}
	}
	return nil
}

// skipSpansBefore drops the free-text spans that start before end (in keys, or in a value
// redacted as a whole).
func (w *jsonWalker) skipSpansBefore(end int) {
	for w.si < len(w.spans) && w.spans[w.si].start < end {
		w.si++
	}
}

func (w *jsonWalker) literal(lit string) error {
	if !bytes.HasPrefix(w.src[w.pos:], []byte(lit)) {
		return w.errorf("invalid literal")
	}
	w.pos += len(lit)
	return nil
}

func (w *jsonWalker) number() error {
	s := w.src
	i := w.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return w.errorf("invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return w.errorf("invalid number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return w.errorf("invalid number")
		}
	}
	w.pos = i
	return nil
}

// location renders the current path as a JSON path: $.items[3].token, $['@odata.context'].
func (w *jsonWalker) location() string {
	var b strings.Builder
	b.WriteByte('$')
	for _, p := range w.path {
		if !p.isKey {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(p.index))
			b.WriteByte(']')
			continue
		}
		if isIdentifier(p.key) {
			b.WriteByte('.')
			b.Write(p.key)
			continue
		}
		b.WriteString("['")
		b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(string(p.key)))
		b.WriteString("']")
	}
	return b.String()
}

func isIdentifier(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isWord(c) || c == '$') || i == 0 && c >= '0' && c <= '9' {
			return false
		}
	}
	return true
}
