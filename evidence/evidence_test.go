package evidence

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDigest(t *testing.T) {
	d := Sum([]byte("abc"))
	const hexABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if d.String() != hexABC {
		t.Fatalf("Sum(abc) = %s", d)
	}
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"lower", hexABC, true},
		{"upper", strings.ToUpper(hexABC), true},
		{"short", hexABC[:63], false},
		{"long", hexABC + "0", false},
		{"not hex", "zz" + hexABC[2:], false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDigest(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseDigest(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if tc.ok && got != d {
				t.Fatalf("ParseDigest(%q) = %s", tc.in, got)
			}
		})
	}
	b, _ := json.Marshal(struct{ D Digest }{d})
	if string(b) != `{"D":"`+hexABC+`"}` {
		t.Fatalf("JSON form %s", b)
	}
	var back struct{ D Digest }
	if err := json.Unmarshal(b, &back); err != nil || back.D != d {
		t.Fatalf("round trip: %v %s", err, back.D)
	}
	if (Digest{}).IsZero() != true || d.IsZero() {
		t.Fatal("IsZero")
	}
}

func TestDecodeStrict(t *testing.T) {
	type inner struct {
		A int `json:"a"`
	}
	type doc struct {
		X  string         `json:"x"`
		In inner          `json:"in"`
		L  []any          `json:"l"`
		Ls []inner        `json:"ls"`
		M  map[string]int `json:"m"`
		P  *inner         `json:"p"`
		K  string         `json:"kind"`
	}
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"ok", `{"x":"1","in":{"a":2},"l":[{"k":1},{"k":1}]}`, ""},
		{"unknown field", `{"x":"1","y":2}`, `unknown field "y"`},
		{"duplicate top", `{"x":"1","x":"2"}`, `duplicate key "x" at $`},
		{"duplicate nested", `{"in":{"a":1,"a":2}}`, `duplicate key "a" at $.in`},
		{"duplicate in list", `{"l":[{"k":1,"k":2}]}`, `duplicate key "k" at $.l[0]`},
		{"trailing data", `{"x":"1"} {}`, "unexpected data after the JSON value"},
		{"not json", `{"x":`, "unexpected EOF"},
		{"escaped duplicate", `{"x":"1","\u0078":"2"}`, `duplicate key "x" at $`},
		{"duplicate in a later list object", `{"l":[{"k":1},{"k":1},{"k":1,"k":2}]}`, `duplicate key "k" at $.l[2]`},
		{"duplicate deep in the list", `{"l":[[{"a":{"b":1,"b":2}}]]}`, `duplicate key "b" at $.l[0][0].a`},
		{"braces and quotes in strings", `{"x":"{\"x\":\"}\",[","in":{"a":1},"l":["{","}"]}`, ""},
		{"duplicate after braces in a string", `{"x":"}","x":"{"}`, `duplicate key "x" at $`},
		{"unknown field escaped", `{"\u0079":1}`, `unknown field "y"`},
		{"trailing garbage", `{"x":"1"}x`, "unexpected data after the JSON value"},
		{"trailing space is fine", "{\"x\":\"1\"} \n", ""},
		{"truncated string", `{"x":"1`, "unexpected EOF"},
		{"syntax error", `{"x":"1",}`, "invalid character '}'"},
		{"wrong type", `{"x":1}`, "cannot unmarshal number"},
		// encoding/json matches keys to fields case-insensitively; other readers do not.
		{"keys differing only in case", `{"X":"forged","x":"1"}`, `key "X" at $ differs only in case from the field "x"`},
		{"a key in the wrong case alone", `{"X":"1"}`, `key "X" at $ differs only in case`},
		{"case in a nested object", `{"in":{"A":1}}`, `key "A" at $.in differs only in case`},
		{"case in a list of objects", `{"ls":[{"a":1},{"a":1,"A":2}]}`, `key "A" at $.ls[1] differs only in case`},
		{"case behind a pointer", `{"p":{"A":1}}`, `key "A" at $.p differs only in case`},
		{"case folding beyond ASCII (Kelvin sign)", "{\"\u212aind\":\"x\"}", "differs only in case from the field \"kind\""},
		{"map keys are data", `{"m":{"A":1,"a":2}}`, ""},
		{"untyped objects are data", `{"l":[{"K":1,"k":2}]}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v doc
			err := DecodeStrict([]byte(tc.in), &v)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestArtefactValidate(t *testing.T) {
	ok := Artefact{Kind: "aws.iam.password_policy", Subject: "aws:1", Document: []byte(`{}`)}
	for _, tc := range []struct {
		name    string
		edit    func(a *Artefact)
		wantErr string
	}{
		{"ok", func(a *Artefact) {}, ""},
		{"gap", func(a *Artefact) { a.Status, a.Error, a.Document = StatusForbidden, "AccessDenied", nil }, ""},
		{"kind one word", func(a *Artefact) { a.Kind = "aws" }, "want at least <connector>.<thing>"},
		{"kind upper case", func(a *Artefact) { a.Kind = "aws.IAM" }, "only a-z"},
		{"kind empty part", func(a *Artefact) { a.Kind = "aws..x" }, "empty part"},
		{"no subject", func(a *Artefact) { a.Subject = " " }, "empty subject"},
		{"unknown status", func(a *Artefact) { a.Status = "meh" }, "unknown status"},
		{"ok without document", func(a *Artefact) { a.Document = nil }, "without a document"},
		{"gap without error", func(a *Artefact) { a.Status = StatusFailed }, "without an error message"},
		{"invalid json", func(a *Artefact) { a.Document = []byte(`{`) }, "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ok
			tc.edit(&a)
			err := a.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestEnvelopeValidate(t *testing.T) {
	ok := Envelope{
		Kind: "github.repo.protection", Subject: "github:acme/api", Status: StatusOK,
		Connector:   ConnectorRef{Instance: "github", Type: "github", Version: "1"},
		CollectedAt: time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC),
		Document:    &ObjectRef{Digest: Sum([]byte("{}")), Size: 2},
	}
	for _, tc := range []struct {
		name    string
		edit    func(e *Envelope)
		wantErr string
	}{
		{"ok", func(e *Envelope) {}, ""},
		{"no connector", func(e *Envelope) { e.Connector.Instance = "" }, "connector instance and type"},
		{"no time", func(e *Envelope) { e.CollectedAt = time.Time{} }, "collected_at"},
		{"ok without document", func(e *Envelope) { e.Document = nil }, "without a document"},
		{"body without digest", func(e *Envelope) { e.Exchanges = []Exchange{{Body: ObjectRef{Size: 3}}} }, "body without a digest"},
		{"status", func(e *Envelope) { e.Status = "" }, "unknown status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.edit(&e)
			err := e.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestDecodeStrictEnvelopeCase: a signed run manifest's envelope whose kind is given twice,
// as "Kind" and "kind", is refused (encoding/json would read one, jq the other).
func TestDecodeStrictEnvelopeCase(t *testing.T) {
	var e Envelope
	in := `{"kind":"aws.forged","Kind":"aws.iam.password_policy","subject":"s"}`
	if err := DecodeStrict([]byte(in), &e); err == nil || !strings.Contains(err.Error(), `key "Kind" at $ differs only in case from the field "kind"`) {
		t.Fatalf("DecodeStrict: %v", err)
	}
}
