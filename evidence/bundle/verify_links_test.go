package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// tokenWalkLinks is the json.Decoder.Token walk the verifier used before linkWalker, kept
// as the reference FuzzLinkWalker compares it with.
func tokenWalkLinks(r io.Reader, href func(string), rl func(rlink)) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var walk func(key string, depth int) error
	walk = func(key string, depth int) error {
		if depth > 64 {
			return errors.New("nested too deeply")
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				for dec.More() {
					kt, err := dec.Token()
					if err != nil {
						return err
					}
					k, _ := kt.(string)
					if err := walk(k, depth+1); err != nil {
						return err
					}
				}
			case '[':
				for dec.More() {
					if key == "rlinks" {
						var l rlink
						if err := dec.Decode(&l); err != nil {
							return err
						}
						rl(l)
						continue
					}
					if err := walk(key, depth+1); err != nil {
						return err
					}
				}
			}
			_, err := dec.Token()
			return err
		case string:
			if key == "href" {
				href(t)
			}
		}
		return nil
	}
	if err := walk("", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// links records what a walk reported, in order.
func links(walk func(io.Reader, func(string), func(rlink)) error, r io.Reader) ([]string, error) {
	var got []string
	err := walk(r, func(h string) { got = append(got, "href "+h) }, func(l rlink) { got = append(got, fmt.Sprintf("rlink %+v", l)) })
	return got, err
}

func TestWalkLinks(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70)
	for _, tc := range []struct {
		name, in string
		want     []string
		wantErr  string
	}{
		{"oscal", `{"assessment-results":{"import-ap":{"href":"../manifest.json"},"results":[{"observations":[{"relevant-evidence":[{"href":"../artefacts/a.json","description":"x"}]}]}],` +
			`"back-matter":{"resources":[{"rlinks":[{"href":"../raw/b.json","media-type":"application/json","hashes":[{"algorithm":"SHA-256","value":"ab"}]}]}]}}}`,
			[]string{"href ../manifest.json", "href ../artefacts/a.json", "rlink {Href:../raw/b.json Hashes:[{Algorithm:SHA-256 Value:ab}]}"}, ""},
		{"escaped href", `{"href":"a\u002fb\"c"}`, []string{`href a/b"c`}, ""},
		{"hrefs in an array", `{"href":["a",{"href":"b"},1]}`, []string{"href a", "href b"}, ""},
		{"href not a string", `{"href":{"x":"y"},"y":{"href":null}}`, nil, ""},
		{"href as a value, not a key", `{"x":"href","href":"ok"}`, []string{"href ok"}, ""},
		{"rlinks not an array", `{"rlinks":{"href":"a"}}`, []string{"href a"}, ""},
		{"rlinks with unknown fields", `{"rlinks":[{"href":"a","x":[1,{"y":"]"}]}]}`, []string{"rlink {Href:a Hashes:[]}"}, ""},
		{"scalars", ` [1, -2.5e+3, true, false, null, "s"] `, nil, ""},
		{"rlinks element not an object", `{"rlinks":[1]}`, nil, "cannot unmarshal"},
		{"too deep", deep, nil, "nested too deeply"},
		{"trailing data", `{} {}`, nil, "data after the JSON value"},
		{"truncated", `{"href":"a`, nil, "unexpected EOF"},
		{"truncated after a value", `{"a":1`, nil, "unexpected EOF"},
		{"empty", ``, nil, "unexpected EOF"},
		{"missing colon", `{"a" 1}`, nil, "after an object key"},
		{"bad literal", `[tru]`, nil, "invalid JSON value"},
		{"trailing comma", `[1,]`, nil, "invalid JSON value"},
		{"control character", "[\"a\x01\"]", nil, "control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				got, err := links(walkLinks, r)
				if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if err == nil && !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}

// FuzzLinkWalker compares linkWalker with the Token walk it replaced: both accept the same
// inputs and, where they do, report the same links in the same order.
func FuzzLinkWalker(f *testing.F) {
	for _, s := range []string{
		`{"assessment-results":{"import-ap":{"href":"../manifest.json"},"back-matter":{"resources":[{"rlinks":[{"href":"../raw/b.json","hashes":[{"algorithm":"SHA-256","value":"ab"}]}]}]}}}`,
		`{"href":["a",{"href":"b\u0063"},1]}`,
		`{"rlinks":[{"href":"a","x":[1,{"y":"]"}]}, 2]}`,
		`[1,-2.5e+3,true,false,null,"s"]`,
		`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
		`{} {}`,
		`{"href":"a`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := links(walkLinks, strings.NewReader(string(data)))
		want, refErr := links(tokenWalkLinks, strings.NewReader(string(data)))
		if (err == nil) != (refErr == nil) {
			t.Fatalf("%q: linkWalker: %v; Token walk: %v", data, err, refErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: linkWalker %q; Token walk %q", data, got, want)
		}
	})
}
