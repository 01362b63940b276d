package connector

import (
	"strings"
	"testing"
)

// TestSecretFields: a connector's declared fields are redacted in the responses of their
// endpoint and the documents of their kind, whatever the values look like, and only there.
func TestSecretFields(t *testing.T) {
	r, err := DefaultRedactor().WithSecretFields([]SecretField{
		{Endpoint: "/2015-03-31/functions/*/configuration", Kind: "aws.lambda.functions", Path: "$.Environment.Variables.*", Rule: "lambda_environment"},
		{Kind: "aws.lambda.functions", Path: "$.Functions[*].Environment.Variables"},
		{Endpoint: "/v1.0/users/**", Path: "$['extension_app_pin']"},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"FunctionName":"f","Environment":{"Variables":{"DB_HOST":"db.internal","MODE":"prod"}}}`
	tests := []struct {
		name, got, want string
	}{
		{"declared endpoint", string(first(r.RedactResponse("/2015-03-31/functions/f/configuration", "application/json", []byte(body)))),
			`{"FunctionName":"f","Environment":{"Variables":{"DB_HOST":"[REDACTED:lambda_environment]","MODE":"[REDACTED:lambda_environment]"}}}`},
		{"other endpoint", string(first(r.RedactResponse("/2015-03-31/functions/f/policy", "application/json", []byte(body)))), body},
		{"plain Redact knows no endpoint", string(first(r.Redact("application/json", []byte(body)))), body},
		{"rest of the path", string(first(r.RedactResponse("/v1.0/users/u1/extensions", "application/json", []byte(`{"extension_app_pin":"1234","id":"u1"}`)))),
			`{"extension_app_pin":"[REDACTED:secret]","id":"u1"}`},
		{"declared kind, a subtree under every index", docOf(t, r, "aws.lambda.functions", `{"Functions":[{"Environment":{"Variables":{"A":"1","B":"****"}}},{"Environment":{}}]}`),
			`{"Functions":[{"Environment":{"Variables":{"A":"[REDACTED:secret]","B":"****"}}},{"Environment":{}}]}`},
		{"other kind", docOf(t, r, "aws.lambda.other", `{"Functions":[{"Environment":{"Variables":{"A":"1"}}}]}`),
			`{"Functions":[{"Environment":{"Variables":{"A":"1"}}}]}`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
	if len(DefaultRedactor().fields) != 0 {
		t.Error("WithSecretFields changed the default redactor")
	}
	for _, bad := range []SecretField{
		{Kind: "k", Path: "Environment"}, {Kind: "k", Path: "$"}, {Kind: "k", Path: "$..x"},
		{Kind: "k", Path: "$['x"}, {Path: "$.x"}, {Endpoint: "functions/*", Path: "$.x"},
	} {
		if _, err := DefaultRedactor().WithSecretFields([]SecretField{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func first(b []byte, _ any) []byte { return b }

func docOf(t *testing.T, r *Redactor, kind, doc string) string {
	t.Helper()
	out, _, err := r.RedactDocument(kind, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "{") {
		t.Fatalf("not a document: %s", out)
	}
	return string(out)
}
