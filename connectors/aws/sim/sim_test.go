package sim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

func auth(akid, region, service string) string {
	return "AWS4-HMAC-SHA256 Credential=" + akid + "/20261128/" + region + "/" + service + "/aws4_request, SignedHeaders=host, Signature=0"
}

// TestRouting exercises the normaliser with raw requests; the SDK-level behaviour is tested
// through the real clients in connectors/aws.
func TestRouting(t *testing.T) {
	s := New(Options{Accounts: 2, Faults: []simkit.Fault{Deny("100000011111", "", "iam", "GetAccountSummary")}})
	for _, tc := range []struct {
		name, authz, target, body, path string
		status                          int
		contains, key                   string
	}{
		{name: "unsigned", authz: "", body: "Action=GetAccountSummary", path: "/", status: 403, contains: "SigV4"},
		{name: "unknown access key", authz: auth("AKIAUNKNOWN", "us-east-1", "iam"), body: "Action=GetAccountSummary", path: "/", status: 403, contains: "InvalidClientTokenId"},
		{name: "unknown service", authz: auth(AccessKeyID, "us-east-1", "lambda"), path: "/", status: 501},
		{name: "query operation", authz: auth(AccessKeyID, "us-east-1", "iam"), body: "Action=GetAccountSummary&Version=2010-05-08", path: "/", status: 200,
			contains: "<key>AccountMFAEnabled</key>", key: "POST /100000000000/us-east-1/iam/GetAccountSummary"},
		{name: "denied for one account", authz: auth(sessionKey("100000011111"), "us-east-1", "iam"), body: "Action=GetAccountSummary&Version=2010-05-08", path: "/", status: 403,
			contains: "<Code>AccessDenied</Code>"},
		{name: "json operation", authz: auth(AccessKeyID, "eu-west-1", "kms"), target: "TrentService.ListKeys", body: "{}", path: "/", status: 200,
			contains: `"Keys"`, key: "POST /100000000000/eu-west-1/kms/ListKeys?body=%7B%7D"},
		{name: "unknown query action", authz: auth(AccessKeyID, "us-east-1", "iam"), body: "Action=DeleteUser&UserName=x", path: "/", status: 400, contains: "InvalidAction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
			r.Header.Set("Authorization", tc.authz)
			if tc.target != "" {
				r.Header.Set("X-Amz-Target", tc.target)
				r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			} else {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			body, _ := io.ReadAll(w.Result().Body)
			if w.Code != tc.status || !strings.Contains(string(body), tc.contains) {
				t.Errorf("%d %s, want %d containing %q", w.Code, body, tc.status, tc.contains)
			}
			if tc.key != "" && s.Harness().Calls()[tc.key] != 1 {
				t.Errorf("harness calls %v, want key %q", s.Harness().Calls(), tc.key)
			}
		})
	}
	if got := s.Actions(); len(got) != 2 || got[0] != "iam:GetAccountSummary" || got[1] != "kms:ListKeys" {
		t.Errorf("actions %v", got)
	}
}

func TestDeterministicIDs(t *testing.T) {
	a, b, c := New(Options{Seed: 1}), New(Options{Seed: 1}), New(Options{Seed: 2})
	if a.id("x", 1) != b.id("x", 1) || a.id("x", 1) == c.id("x", 1) {
		t.Error("ids must depend on the seed only")
	}
}
