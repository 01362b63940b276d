package diff

import (
	"strings"
	"testing"
)

func TestJSON(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want []string // "op path old new"
	}{
		{"equal", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, nil},
		{"number formats are values", `{"a":1.0}`, `{"a":1}`, []string{"changed a 1.0 1"}},
		{"changed scalar", `{"PasswordPolicy":{"MinimumPasswordLength":14}}`, `{"PasswordPolicy":{"MinimumPasswordLength":8}}`,
			[]string{"changed PasswordPolicy.MinimumPasswordLength 14 8"}},
		{"added and removed members", `{"a":1}`, `{"b":true}`, []string{"removed a 1 ", "added b  true"}},
		{"null vs absent", `{"a":null}`, `{}`, []string{"removed a null "}},
		{"type change", `{"a":[1]}`, `{"a":{"x":1}}`, []string{`changed a [1] {"x":1}`}},
		{"array by position", `{"r":[1,2,3]}`, `{"r":[1,5]}`, []string{"changed r[1] 2 5", "removed r[2] 3 "}},
		{"array of objects by id", `{"users":[{"id":"u1","mfa":true},{"id":"u2","mfa":true}]}`,
			`{"users":[{"id":"u3","mfa":false},{"id":"u2","mfa":false},{"id":"u1","mfa":true}]}`,
			[]string{"changed users[id=u2].mfa true false", `added users[id=u3]  {"id":"u3","mfa":false}`}},
		{"duplicate ids fall back to position", `[{"id":"x","v":1},{"id":"x","v":2}]`, `[{"id":"x","v":1},{"id":"x","v":3}]`,
			[]string{"changed [1].v 2 3"}},
		{"pseudonyms compare as stored", `{"upn":"pseud:4f1c"}`, `{"upn":"pseud:9a0b"}`, []string{`changed upn "pseud:4f1c" "pseud:9a0b"`}},
		{"odd member names are quoted", `{"a b":1}`, `{"a b":2}`, []string{`changed ["a b"] 1 2`}},
		{"root scalar", `1`, `2`, []string{"changed . 1 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := JSON([]byte(tc.a), []byte(tc.b))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range d.Fields {
				got = append(got, strings.TrimSpace(string(f.Op)+" "+f.Path+" "+string(f.Old)+" "+string(f.New)))
			}
			for i := range tc.want {
				tc.want[i] = strings.TrimSpace(tc.want[i])
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	if _, err := JSON([]byte(`{`), []byte(`{}`)); err == nil {
		t.Error("invalid old document accepted")
	}
}

func TestJSONTruncates(t *testing.T) {
	var a, b strings.Builder
	a.WriteString("[")
	b.WriteString("[")
	for i := 0; i < MaxFields+10; i++ {
		if i > 0 {
			a.WriteString(",")
			b.WriteString(",")
		}
		a.WriteString("0")
		b.WriteString("1")
	}
	a.WriteString("]")
	b.WriteString("]")
	d, err := JSON([]byte(a.String()), []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Fields) != MaxFields || !d.Truncated {
		t.Errorf("%d fields, truncated %v", len(d.Fields), d.Truncated)
	}
}

func TestDocuments(t *testing.T) {
	a := []Doc{
		{Kind: "k", Subject: "s1", Connector: "c", Status: "ok", Digest: "aa"},
		{Kind: "k", Subject: "s2", Connector: "c", Status: "ok", Digest: "bb"},
		{Kind: "k", Subject: "s3", Connector: "c", Status: "ok", Digest: "cc"},
		{Kind: "g", Subject: "s", Connector: "c", Status: "forbidden"},
	}
	b := []Doc{
		{Kind: "k", Subject: "s1", Connector: "c", Status: "ok", Digest: "aa"}, // unchanged: skipped
		{Kind: "k", Subject: "s2", Connector: "c", Status: "ok", Digest: "b2"},
		{Kind: "k", Subject: "s4", Connector: "c", Status: "ok", Digest: "dd"},
		{Kind: "g", Subject: "s", Connector: "c", Status: "throttled"},
	}
	var got []string
	for _, c := range Documents(a, b) {
		got = append(got, string(c.Op)+" "+c.Kind+" "+c.Subject+" "+c.OldStatus+">"+c.NewStatus+" "+c.OldDigest+">"+c.NewDigest)
	}
	want := []string{"changed g s forbidden>throttled >", "changed k s2 ok>ok bb>b2", "removed k s3 ok> cc>", "added k s4 >ok >dd"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestVerdicts(t *testing.T) {
	v := func(rule, subject, outcome string) Verdict {
		return Verdict{Rule: rule, Connector: "c", Subject: subject, Outcome: outcome}
	}
	a := []Verdict{
		v("r.pass_to_fail", "s", "pass"), v("r.fail_to_pass", "s", "fail"), v("r.same", "s", "pass"),
		v("r.pass_to_gap", "s", "pass"), v("r.gap_to_pass", "s", "no_evidence"), v("r.pass_to_error", "s", "pass"),
		v("r.vanished", "s", "pass"), v("r.na_to_pass", "s", "not_applicable"), v("r.fail_to_na", "s", "fail"),
	}
	b := []Verdict{
		v("r.pass_to_fail", "s", "fail"), v("r.fail_to_pass", "s", "pass"), v("r.same", "s", "pass"),
		v("r.pass_to_gap", "s", "no_evidence"), v("r.gap_to_pass", "s", "pass"), v("r.pass_to_error", "s", "error"),
		v("r.new_fail", "s", "fail"), v("r.na_to_pass", "s", "pass"), v("r.fail_to_na", "s", "not_applicable"),
	}
	var got []string
	for _, c := range Verdicts(a, b) {
		got = append(got, c.Change+" "+c.Rule+" "+c.Old+">"+c.New)
	}
	want := []string{
		"new_failure r.new_fail >fail", "new_failure r.pass_to_fail pass>fail",
		"new_error r.pass_to_error pass>error",
		"new_gap r.pass_to_gap pass>no_evidence", "new_gap r.vanished pass>",
		"fixed r.fail_to_pass fail>pass",
		"gap_closed r.gap_to_pass no_evidence>pass",
		"changed r.fail_to_na fail>not_applicable", "changed r.na_to_pass not_applicable>pass",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestControls(t *testing.T) {
	got := Controls("iso27001-2022", map[string]string{"A.5.1": "effective", "A.8.5": "effective", "A.8.2": "gaps"},
		map[string]string{"A.5.1": "effective", "A.8.5": "failing", "A.8.9": "no_evidence"})
	var s []string
	for _, c := range got {
		s = append(s, c.Control+" "+c.Old+">"+c.New)
	}
	if strings.Join(s, ",") != "A.8.2 gaps>,A.8.5 effective>failing,A.8.9 >no_evidence" {
		t.Errorf("got %v", s)
	}
}
