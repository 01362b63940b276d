package evidence

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// DecodeStrict decodes one JSON value from data into v. Unlike encoding/json it rejects
// unknown fields, duplicate object keys at any depth and trailing data, because an evidence
// reader that tolerates them lets two parties read different things from the same bytes.
//
// The bytes are checked in one pass by CheckDuplicateKeys (which also validates the syntax
// and rejects trailing data) and then decoded once; run manifests hold one envelope per
// artefact, so this is on the hot path of verifying a bundle.
func DecodeStrict(data []byte, v any) error {
	if err := checkKeys(data, shapeOf(reflect.TypeOf(v))); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// CheckDuplicateKeys accepted exactly one value followed by white space at most, so
	// nothing can follow; checked again because the decoder, not the scanner, is what
	// reads the value.
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// CheckDuplicateKeys checks that data is exactly one JSON value (white space around it
// allowed) and reports the first object key that appears twice in the same object, at any
// depth. Keys are compared as encoding/json reads them: after unescaping ("a" and "\u0061"
// are the same key), with invalid UTF-8 and lone surrogates read as U+FFFD. Malformed JSON
// is an error that gives the byte offset; JSON cut short wraps io.ErrUnexpectedEOF; nesting
// deeper than encoding/json accepts (10,000 levels) is an error.
//
// It is one pass over the bytes, and allocates nothing when keys have no escapes and
// objects have up to 16 keys (json.Decoder.Token, used before, allocated per token).
func CheckDuplicateKeys(data []byte) error { return checkKeys(data, nil) }

// checkKeys is CheckDuplicateKeys that also refuses, in the objects that decode into a
// struct of shape, a key that names a field only case-insensitively. encoding/json takes
// "Kind" for the field "kind" (and the last of "kind" and "Kind" wins), while jq, Python
// and every other reader see two different keys: two readers of the same signed bytes would
// disagree on the field's value.
func checkKeys(data []byte, shape *keyShape) error {
	s := scanners.Get().(*dupScanner)
	defer s.release()
	s.data = data
	s.skipSpace()
	if err := s.value(shape); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos < len(s.data) {
		return fmt.Errorf("unexpected data after the JSON value (byte %d)", s.pos)
	}
	return nil
}

// scanners recycles the scanners' key and frame stacks: they would escape to the heap
// on every call otherwise.
var scanners = sync.Pool{New: func() any { return new(dupScanner) }}

// release returns s to the pool without references into the data it scanned, and without
// the stacks a deeply nested or very wide input made large.
func (s *dupScanner) release() {
	if cap(s.keys) > 256 || cap(s.frames) > 256 {
		return
	}
	clear(s.keys[:cap(s.keys)])
	clear(s.frames[:cap(s.frames)])
	*s = dupScanner{keys: s.keys[:0], frames: s.frames[:0]}
	scanners.Put(s)
}

// maxDepth is encoding/json's nesting limit: the scanner refuses what the decoder would, and
// a hostile "[[[[…" costs bounded memory.
const maxDepth = 10000

// smallObject is the number of keys up to which an object's keys are compared pairwise;
// larger objects get a set.
const smallObject = 16

// dupScanner is a recursive-descent JSON validator that remembers the keys of the objects
// being read. keys holds the keys of all open objects, innermost last (an object's keys are
// dropped when it closes); frames holds one entry per open object or array, for the
// object's first key and for the path in error messages.
type dupScanner struct {
	data   []byte
	pos    int
	keys   [][]byte
	frames []frame
}

type frame struct {
	obj   bool
	first int                 // index in keys of the object's first key
	index int                 // the current element of an array
	set   map[string]struct{} // the object's keys once it has more than smallObject
}

func (s *dupScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *dupScanner) value(shape *keyShape) error {
	if s.pos >= len(s.data) {
		return errTruncated
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(shape)
	case c == '[':
		return s.array(shape)
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.syntax("looking for the beginning of a value")
	}
}

func (s *dupScanner) push(obj bool) error {
	if len(s.frames) >= maxDepth {
		return fmt.Errorf("invalid JSON at byte %d: nested more than %d levels deep", s.pos, maxDepth)
	}
	s.frames = append(s.frames, frame{obj: obj, first: len(s.keys)})
	s.pos++ // the opening bracket
	s.skipSpace()
	return nil
}

func (s *dupScanner) object(shape *keyShape) error {
	if err := s.push(true); err != nil {
		return err
	}
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.frames = s.frames[:len(s.frames)-1]
		return nil
	}
	f := len(s.frames) - 1
	for {
		if s.pos >= len(s.data) {
			return errTruncated
		}
		if s.data[s.pos] != '"' {
			return s.syntax("looking for the beginning of an object key")
		}
		raw, plain, err := s.str()
		if err != nil {
			return err
		}
		key := raw
		if !plain {
			key = unquoteKey(raw)
		}
		if err := s.addKey(f, key); err != nil {
			return err
		}
		var child *keyShape
		if shape != nil {
			if shape.fields == nil {
				child = shape.elem // a map: any key
			} else if sh, ok := shape.fields[string(key)]; ok {
				child = sh
			} else if name, ok := shape.folded[foldKey(key)]; ok {
				return fmt.Errorf("key %q at %s differs only in case from the field %q (readers would disagree on its value)", key, s.path(), name)
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errTruncated
		}
		if s.data[s.pos] != ':' {
			return s.syntax("after an object key")
		}
		s.pos++
		s.skipSpace()
		if err := s.value(child); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errTruncated
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case '}':
			s.pos++
			s.keys = s.keys[:s.frames[f].first]
			s.frames = s.frames[:f]
			return nil
		default:
			return s.syntax("after an object value")
		}
	}
}

// addKey records key in the object of frame f, or reports it as a duplicate.
func (s *dupScanner) addKey(f int, key []byte) error {
	fr := &s.frames[f]
	if fr.set != nil {
		if _, dup := fr.set[string(key)]; dup {
			return s.duplicate(key)
		}
		fr.set[string(key)] = struct{}{}
		s.keys = append(s.keys[:fr.first], key) // only the current key, for the path
		return nil
	}
	for _, k := range s.keys[fr.first:] {
		if string(k) == string(key) {
			return s.duplicate(key)
		}
	}
	s.keys = append(s.keys, key)
	if n := len(s.keys) - fr.first; n > smallObject {
		fr.set = make(map[string]struct{}, 2*n)
		for _, k := range s.keys[fr.first:] {
			fr.set[string(k)] = struct{}{}
		}
		// Only the current key is needed from now on (for the path).
		s.keys = append(s.keys[:fr.first], key)
	}
	return nil
}

func (s *dupScanner) array(shape *keyShape) error {
	var elem *keyShape
	if shape != nil {
		elem = shape.elem
	}
	if err := s.push(false); err != nil {
		return err
	}
	f := len(s.frames) - 1
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.frames = s.frames[:f]
		return nil
	}
	for {
		if err := s.value(elem); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errTruncated
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.frames[f].index++
			s.skipSpace()
		case ']':
			s.pos++
			s.frames = s.frames[:f]
			return nil
		default:
			return s.syntax("after an array element")
		}
	}
}

// str reads a string starting at its opening quote and returns its contents as they are in
// the input (without quotes). plain reports that they need no unescaping: no backslash and
// valid UTF-8.
func (s *dupScanner) str() (raw []byte, plain bool, err error) {
	start := s.pos + 1
	i := start
	ascii, escaped := true, false
	for i < len(s.data) {
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			raw = s.data[start:i]
			return raw, !escaped && (ascii || utf8.Valid(raw)), nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(s.data) {
				return nil, false, errTruncated
			}
			switch s.data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				for j := 1; j <= 4; j++ {
					if i+j >= len(s.data) {
						return nil, false, errTruncated
					}
					if !isHex(s.data[i+j]) {
						s.pos = i + j
						return nil, false, s.syntax("in a \\u escape")
					}
				}
				i += 5
			default:
				s.pos = i
				return nil, false, s.syntax("in a string escape")
			}
		case c < 0x20:
			s.pos = i
			return nil, false, s.syntax("in a string (control characters must be escaped)")
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			i++
		}
	}
	return nil, false, errTruncated
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *dupScanner) number() error {
	if s.data[s.pos] == '-' {
		s.pos++
	}
	if s.pos >= len(s.data) {
		return errTruncated
	}
	switch c := s.data[s.pos]; {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.syntax("in a number")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if err := s.someDigits(); err != nil {
			return err
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if err := s.someDigits(); err != nil {
			return err
		}
	}
	return nil
}

func (s *dupScanner) digits() {
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
}

func (s *dupScanner) someDigits() error {
	if s.pos >= len(s.data) {
		return errTruncated
	}
	if c := s.data[s.pos]; c < '0' || c > '9' {
		return s.syntax("in a number")
	}
	s.digits()
	return nil
}

func (s *dupScanner) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if s.pos >= len(s.data) {
			return errTruncated
		}
		if s.data[s.pos] != lit[i] {
			return s.syntax("in a literal (true, false or null)")
		}
		s.pos++
	}
	return nil
}

// errTruncated says the input ended inside a value.
var errTruncated = fmt.Errorf("truncated JSON: %w", io.ErrUnexpectedEOF)

func (s *dupScanner) syntax(where string) error {
	return fmt.Errorf("invalid JSON: invalid character %s %s (byte %d)", quoteChar(s.data[s.pos]), where, s.pos)
}

// quoteChar renders an offending byte the way encoding/json's errors do.
func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c < 0x20 || c >= utf8.RuneSelf:
		return fmt.Sprintf("%#02x", c)
	}
	return "'" + string(rune(c)) + "'"
}

// duplicate builds the error for key, naming the object it is in as "$.a.b[2]".
func (s *dupScanner) duplicate(key []byte) error {
	return fmt.Errorf("duplicate key %q at %s", key, s.path())
}

// path renders where the scanner is, as $.key[index]…, up to the current object.
func (s *dupScanner) path() []byte {
	path := make([]byte, 0, 64)
	path = append(path, '$')
	for i, fr := range s.frames[:len(s.frames)-1] {
		if fr.obj {
			path = append(path, '.')
			path = append(path, s.keys[s.frames[i+1].first-1]...)
		} else {
			path = append(path, '[')
			path = strconv.AppendInt(path, int64(fr.index), 10)
			path = append(path, ']')
		}
	}
	return path
}

// unquoteKey returns the key as encoding/json reads it. raw is what is inside the
// quotes, already checked to be a well-formed string; keys with escapes or
// non-ASCII bytes are rare enough to let encoding/json itself do the unescaping, so both
// agree on which keys are equal.
func unquoteKey(raw []byte) []byte {
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(quoted, '"')
	quoted = append(quoted, raw...)
	quoted = append(quoted, '"')
	var key string
	if err := json.Unmarshal(quoted, &key); err != nil {
		// Unreachable: the scanner accepted the string. Compare the raw bytes rather than
		// fail, which is no weaker than the decoder that runs next.
		return raw
	}
	return []byte(key)
}

// keyShape is what encoding/json decodes an object into, as far as its keys matter: the
// exact names of a struct's fields (and their folds), or, for a map, slice, array or
// pointer, the shape of its elements. nil: anything (an Unmarshaler, an interface).
type keyShape struct {
	fields map[string]*keyShape // a struct: its JSON names
	folded map[string]string    // a struct: its JSON names by foldKey
	elem   *keyShape            // a map, slice, array or pointer
}

var shapes sync.Map // reflect.Type → *keyShape

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// shapeOf returns the key shape of values of type t, built once per type.
func shapeOf(t reflect.Type) *keyShape {
	if t == nil {
		return nil
	}
	if sh, ok := shapes.Load(t); ok {
		return sh.(*keyShape)
	}
	sh := buildShape(t, map[reflect.Type]*keyShape{})
	shapes.Store(t, sh)
	return sh
}

func buildShape(t reflect.Type, building map[reflect.Type]*keyShape) *keyShape {
	if sh, ok := building[t]; ok {
		return sh // a recursive type: the shape being built
	}
	if t.Kind() != reflect.Pointer && (t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return buildShape(t.Elem(), building)
	case reflect.Slice, reflect.Array, reflect.Map:
		sh := &keyShape{}
		building[t] = sh
		sh.elem = buildShape(t.Elem(), building)
		if sh.elem == nil && t.Kind() != reflect.Map {
			return nil
		}
		return sh
	case reflect.Struct:
		sh := &keyShape{fields: map[string]*keyShape{}, folded: map[string]string{}}
		building[t] = sh
		addFields(sh, t, building)
		return sh
	}
	return nil
}

// addFields adds the JSON names of t's fields to sh as encoding/json names them, embedded
// structs without a name flattened into their parent.
func addFields(sh *keyShape, t reflect.Type, building map[reflect.Type]*keyShape) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			addFields(sh, ft, building)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, ok := sh.fields[name]; ok {
			continue
		}
		sh.fields[name] = buildShape(f.Type, building)
		sh.folded[foldKey([]byte(name))] = name
	}
}

// foldKey maps a key to the same string as every key that encoding/json (and
// bytes.EqualFold) takes for the same field: each rune to the smallest of its case folds.
func foldKey(key []byte) string {
	var b strings.Builder
	for _, r := range string(key) {
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			low = min(low, f)
		}
		b.WriteRune(low)
	}
	return b.String()
}
