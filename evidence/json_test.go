package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// tokenCheckDuplicateKeys is the duplicate-key check DecodeStrict used before the
// single-pass scanner: a walk with json.Decoder.Token. It stays here as the reference the
// fuzz target compares the scanner with. Unlike the scanner it reads only the first value,
// so trailing data is not its concern.
func tokenCheckDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := tokenCheckValue(dec, ""); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("truncated JSON: %w", io.ErrUnexpectedEOF)
		}
		return err
	}
	return nil
}

func tokenCheckValue(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, ok := kt.(string)
			if !ok {
				return fmt.Errorf("invalid object key at %s", tokenRoot(path))
			}
			if seen[key] {
				return fmt.Errorf("duplicate key %q at %s", key, tokenRoot(path))
			}
			seen[key] = true
			if err := tokenCheckValue(dec, path+"."+key); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := tokenCheckValue(dec, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // closing delimiter
	return err
}

func tokenRoot(path string) string {
	if path == "" {
		return "$"
	}
	return "$" + path
}

// DecodeStrictTokenBased is DecodeStrict as it was before the single-pass scanner (the
// Token walk, then a decode, then a Token for trailing data), for the benchmarks of the
// external test package to compare with.
func DecodeStrictTokenBased(data []byte, v any) error {
	if err := tokenCheckDuplicateKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// TokenCheckDuplicateKeys exports the reference check to the external benchmarks.
var TokenCheckDuplicateKeys = tokenCheckDuplicateKeys

func TestCheckDuplicateKeys(t *testing.T) {
	wide := func(n, dupAt int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			k := i
			if i == dupAt {
				k = 3
			}
			fmt.Fprintf(&b, `"k%d":%d`, k, i)
		}
		b.WriteString("}")
		return b.String()
	}
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"empty object", `{}`, ""},
		{"scalar", ` 12.5e-3 `, ""},
		{"white space around", "\r\n\t {\"a\" : [ 1 , {} , [ ] ] } \n", ""},
		{"same key in sibling objects", `{"a":{"k":1},"b":{"k":1},"k":{"k":{"k":1}}}`, ""},
		{"same key in array of objects", `[{"k":1},{"k":2},{"k":3}]`, ""},
		{"duplicate top", `{"a":1,"a":2}`, `duplicate key "a" at $`},
		{"escaped duplicate", `{"a":1,"\u0061":2}`, `duplicate key "a" at $`},
		{"escaped duplicate upper hex", `{"\u00E9":1,"é":2}`, `duplicate key "é" at $`},
		{"escaped slash duplicate", `{"a/b":1,"a\/b":2}`, `duplicate key "a/b" at $`},
		{"surrogate pair duplicate", `{"😀":1,"\ud83d\ude00":2}`, `duplicate key "😀" at $`},
		{"lone surrogates read as U+FFFD", `{"\ud800":1,"\udc00":2}`, "duplicate key \"\ufffd\" at $"},
		{"invalid UTF-8 read as U+FFFD", "{\"\xff\":1,\"\xfe\":2}", "duplicate key \"\ufffd\" at $"},
		{"different escapes differ", `{"\n":1,"\t":2,"\\n":3}`, ""},
		{"keys differing in case differ", `{"a":1,"A":2}`, ""},
		{"duplicate after nested value", `{"a":{"b":[1,{"c":2}]},"a":3}`, `duplicate key "a" at $`},
		{"duplicate in array of objects", `{"l":[{"k":1},{"k":1,"k":2}]}`, `duplicate key "k" at $.l[1]`},
		{"duplicate deep", `{"a":[[{"b":{"c":[0,1,{"d":1,"d":2}]}}]]}`, `duplicate key "d" at $.a[0][0].b.c[2]`},
		{"path uses unescaped keys", `{"\u0078":{"y":1,"y":2}}`, `duplicate key "y" at $.x`},
		{"braces and quotes in strings", `{"a":"}{\"a\":1,","b":"[\"a\"]","k\"}":1,"k\"}":2}`, `duplicate key "k\"}" at $`},
		{"key text inside a value is not a key", `{"a":"\"a\":1","b":{"a":"a"}}`, ""},
		{"wide object, no duplicate", wide(40, -1), ""},
		{"wide object, duplicate after the set", wide(40, 30), `duplicate key "k3" at $`},
		{"wide object, duplicate before the set", wide(40, 10), `duplicate key "k3" at $`},
		{"nested within a wide object", `{` + wide(20, -1)[1:len(wide(20, -1))-1] + `,"n":{"x":1,"x":1}}`, `duplicate key "x" at $.n`},
		{"deep nesting accepted", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), ""},
		{"deeper than encoding/json", strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "nested more than 10000 levels"},
		{"deep objects", strings.Repeat(`{"a":`, 200) + `{"b":1,"b":1}` + strings.Repeat("}", 200), `duplicate key "b" at $` + strings.Repeat(".a", 200)},
		{"trailing data", `{} {}`, "unexpected data after the JSON value"},
		{"trailing garbage", `1 x`, "unexpected data after the JSON value"},
		{"empty", ``, "truncated JSON: unexpected EOF"},
		{"only space", "  \n", "truncated JSON: unexpected EOF"},
		{"truncated object", `{"a":`, "truncated JSON: unexpected EOF"},
		{"truncated string", `{"a":"abc`, "truncated JSON: unexpected EOF"},
		{"truncated escape", `{"a":"\u00`, "truncated JSON: unexpected EOF"},
		{"truncated literal", `[tru`, "truncated JSON: unexpected EOF"},
		{"truncated number", `[1.`, "truncated JSON: unexpected EOF"},
		{"truncated array", `[1,`, "truncated JSON: unexpected EOF"},
		{"key not a string", `{a:1}`, "invalid character 'a' looking for the beginning of an object key (byte 1)"},
		{"missing colon", `{"a" 1}`, "invalid character '1' after an object key"},
		{"trailing comma", `{"a":1,}`, "looking for the beginning of an object key"},
		{"trailing comma in array", `[1,]`, "looking for the beginning of a value"},
		{"bad escape", `["\x"]`, `invalid character 'x' in a string escape`},
		{"bad unicode escape", `["\u12G4"]`, `invalid character 'G' in a \u escape`},
		{"control character", "[\"a\tb\"]", "invalid character 0x09 in a string"},
		{"leading zero", `[01]`, "invalid character '1' after an array element"},
		{"plus sign", `[+1]`, "looking for the beginning of a value"},
		{"bare minus", `[-]`, "in a number"},
		{"bad literal", `[nul]`, "in a literal"},
		{"single quotes", `{'a':1}`, `invalid character '\''`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDuplicateKeys([]byte(tc.in))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if strings.HasPrefix(tc.wantErr, "truncated") && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v does not wrap io.ErrUnexpectedEOF", err)
			}
		})
	}
}

// TestCheckDuplicateKeysPoolIsClean checks that a scanner returned to the pool after an
// error (with open objects) does not carry keys into the next check.
func TestCheckDuplicateKeysPoolIsClean(t *testing.T) {
	for i := 0; i < 10; i++ {
		if err := CheckDuplicateKeys([]byte(`{"a":{"b":{"c":`)); err == nil {
			t.Fatal("truncated input accepted")
		}
		if err := CheckDuplicateKeys([]byte(`{"c":1,"b":2,"a":3}`)); err != nil {
			t.Fatalf("keys of an earlier check leaked into this one: %v", err)
		}
	}
}

func TestCheckDuplicateKeysAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	env := []byte(`{"kind":"aws.iam.password_policy","subject":"aws:1","connector":{"instance":"aws-prod","type":"aws","version":"1"},"collected_at":"2026-11-28T02:00:01Z","status":"ok","document":{"digest":"00","size":2},"exchanges":[{"method":"GET","url":"https://x/?a=\"1\"","status":200,"body":{"digest":"00","size":1}}]}`)
	if err := CheckDuplicateKeys(env); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = CheckDuplicateKeys(env) }); n > 0 {
		t.Fatalf("CheckDuplicateKeys allocates %.0f times per envelope, want 0", n)
	}
}

// FuzzCheckDuplicateKeys compares the single-pass scanner with the Token-based reference:
// both accept exactly the single JSON values (json.Valid) without duplicate keys, and
// report the same first duplicate at the same path.
func FuzzCheckDuplicateKeys(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[{"c":2,"d":{"e":null}}],"f":"x"}`,
		`{"a":1,"a":2}`,
		`{"a":1,"\u0061":2}`,
		`{"l":[{"k":1},{"k":1,"k":2}]}`,
		`{"a":"}{\"a\":1,","b":{"a":"a"}}`,
		`{"\ud800":1,"\udc00":2}`,
		"{\"\xff\":1,\"\xfe\":2}",
		`{"x":"1"} {}`,
		`{"x":`,
		`[1,2.5e+3,-0,true,false,null,"s\n\u00e9"]`,
		`{"kind":"aws.iam.password_policy","subject":"aws:1","connector":{"instance":"aws-prod","type":"aws","version":"1"},"status":"ok"}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":18}`,
		"",
		` 7 `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := CheckDuplicateKeys(data)
		ref := tokenCheckDuplicateKeys(data)
		refOK := ref == nil && json.Valid(data)
		if (got == nil) != refOK {
			t.Fatalf("%q: scanner says %v; reference says %v (json.Valid %v)", data, got, ref, json.Valid(data))
		}
		gotDup := got != nil && strings.HasPrefix(got.Error(), "duplicate key")
		refDup := ref != nil && strings.HasPrefix(ref.Error(), "duplicate key")
		if gotDup != refDup || gotDup && got.Error() != ref.Error() {
			t.Fatalf("%q: scanner says %v; reference says %v", data, got, ref)
		}
	})
}
