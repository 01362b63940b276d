package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readArray reads every element of an array (input after its '[') and what follows it.
func readArray(r io.Reader, max int) (elems []string, rest string, err error) {
	ar := NewArrayReader(r, max)
	for {
		e, err := ar.Next()
		if err == io.EOF {
			b, rerr := io.ReadAll(ar.Rest())
			return elems, string(b), rerr
		}
		if err != nil {
			return elems, "", err
		}
		elems = append(elems, string(e))
	}
}

func TestArrayReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string // after the '['
		max     int
		want    []string
		rest    string
		wantErr string
	}{
		{"empty", `]}`, 0, nil, "}", ""},
		{"empty with space", " \n ] , x", 0, nil, " , x", ""},
		{"objects", `{"a":1}, {"b":[1,{"c":"}"}]} ]}`, 0, []string{`{"a":1}`, `{"b":[1,{"c":"}"}]}`}, "}", ""},
		{"strings with brackets, quotes and escapes", `"]", "a\"]", "\\", "\u005d"]`, 0, []string{`"]"`, `"a\"]"`, `"\\"`, `"\u005d"`}, "", ""},
		{"scalars", `1, -2.5e3 ,true,null,false]`, 0, []string{"1", "-2.5e3", "true", "null", "false"}, "", ""},
		{"nested arrays", `[[]],[[1],[2]]]`, 0, []string{"[[]]", "[[1],[2]]"}, "", ""},
		{"element over the limit", `{"a":"0123456789"}]`, 10, nil, "", "longer than 10 bytes"},
		{"element at the limit", `{"a":"012345678"}]`, 17, []string{`{"a":"012345678"}`}, "", ""},
		{"missing comma", `{"a":1} {"b":2}]`, 0, []string{`{"a":1}`}, "", "invalid character '{' after an array element"},
		{"trailing comma", `1,]`, 0, []string{"1"}, "", "invalid character ']' looking for the beginning of an array element"},
		{"leading comma", `,1]`, 0, nil, "", "invalid character ','"},
		{"closing brace", `}`, 0, nil, "", "invalid character '}' looking for the beginning"},
		{"scalar then brace", `1}`, 0, []string{"1"}, "", "invalid character '}' after an array element"},
		{"truncated in an element", `{"a":[1,2`, 0, nil, "", "unexpected EOF"},
		{"truncated in a string", `"abc`, 0, nil, "", "unexpected EOF"},
		{"truncated after an element", `{"a":1}`, 0, []string{`{"a":1}`}, "", "unexpected EOF"},
		{"truncated after a comma", `{"a":1},`, 0, []string{`{"a":1}`}, "", "unexpected EOF"},
		{"truncated scalar", `12`, 0, []string{"12"}, "", "unexpected EOF"},
		{"nothing", ``, 0, nil, "", "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time too, so elements span reads.
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				elems, rest, err := readArray(r, tc.max)
				if strings.Join(elems, "|") != strings.Join(tc.want, "|") {
					t.Fatalf("elements %q, want %q", elems, tc.want)
				}
				if tc.wantErr == "" {
					if err != nil {
						t.Fatal(err)
					}
					if rest != tc.rest {
						t.Fatalf("rest %q, want %q", rest, tc.rest)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if tc.wantErr == "unexpected EOF" && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error %v does not wrap io.ErrUnexpectedEOF", err)
				}
			}
		})
	}
}

func TestArrayReaderStickyError(t *testing.T) {
	ar := NewArrayReader(strings.NewReader(`1 2]`), 0)
	if _, err := ar.Next(); err != nil {
		t.Fatal(err)
	}
	_, err1 := ar.Next()
	_, err2 := ar.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v then %v, want the same error twice", err1, err2)
	}
}

// FuzzArrayReader compares the splitter with json.Decoder reading the same array into
// json.RawMessage values, the way the manifest readers did: where every element the
// splitter returns is valid JSON, both accept the same inputs, give the same elements and
// leave the same rest.
func FuzzArrayReader(f *testing.F) {
	for _, s := range []string{
		`{"a":1},{"b":[1,{"c":"}"}]}]}`,
		`"]","a\"]","\\"]`,
		`1,-2.5e3,true,null]`,
		`[[]],[[1],[2]]] tail`,
		`{"a":1} {"b":2}]`,
		`1,]`,
		`1}`,
		`{"a":[1,2`,
		` ] `,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		elems, rest, err := readArray(bytes.NewReader(data), 0)
		ok := err == nil
		for _, e := range elems {
			ok = ok && json.Valid([]byte(e))
		}

		dec := json.NewDecoder(io.MultiReader(strings.NewReader("["), bytes.NewReader(data)))
		var refElems []string
		refErr := func() error {
			if _, err := dec.Token(); err != nil {
				return err
			}
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return err
				}
				refElems = append(refElems, string(raw))
			}
			tok, err := dec.Token()
			if err == nil && tok != json.Delim(']') {
				err = errors.New("not a closing bracket")
			}
			return err
		}()
		if ok != (refErr == nil) {
			t.Fatalf("%q: splitter %q, %v; json.Decoder %q, %v", data, elems, err, refElems, refErr)
		}
		if !ok {
			return
		}
		if strings.Join(elems, "\x00") != strings.Join(refElems, "\x00") {
			t.Fatalf("%q: splitter %q; json.Decoder %q", data, elems, refElems)
		}
		if off := int(dec.InputOffset()) - 1; rest != string(data[off:]) {
			t.Fatalf("%q: rest %q, want %q", data, rest, data[off:])
		}
	})
}
