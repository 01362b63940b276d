package aws

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence"
)

// replayIAM answers IAM's query API with documented responses: GetAccountSummary from the
// API reference's example, the credential report in the documented format.
func replayIAM(t *testing.T, reportCSV []byte) *httptest.Server {
	t.Helper()
	summary, err := os.ReadFile("testdata/fixtures/iam_GetAccountSummary.xml")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		switch action := r.Form.Get("Action"); action {
		case "GetAccountSummary":
			w.Write(summary)
		case "GenerateCredentialReport":
			w.Write([]byte(`<GenerateCredentialReportResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GenerateCredentialReportResult><State>COMPLETE</State></GenerateCredentialReportResult><ResponseMetadata><RequestId>replay</RequestId></ResponseMetadata></GenerateCredentialReportResponse>`))
		case "GetCredentialReport":
			w.Write([]byte(`<GetCredentialReportResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetCredentialReportResult><Content>` +
				base64.StdEncoding.EncodeToString(reportCSV) + `</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>2026-11-27T23:00:00Z</GeneratedTime></GetCredentialReportResult><ResponseMetadata><RequestId>replay</RequestId></ResponseMetadata></GetCredentialReportResponse>`))
		default:
			http.Error(w, "not replayed: "+action, http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// replayTarget points the real connector's collectors at a replay server.
func replayTarget(t *testing.T, url string) *target {
	t.Helper()
	e := &simEnv{tr: testTransport()}
	t.Cleanup(e.tr.CloseIdleConnections)
	c := e.connector(t, strings.Join([]string{
		"credentials: {access_key_id_env: EXHIBIT_AWS_SIM_ACCESS_KEY_ID, secret_access_key_env: EXHIBIT_AWS_SIM_SECRET_ACCESS_KEY}",
		"endpoint_url: " + url, "regions: [eu-central-1]"}, "\n"))
	cfg, err := c.baseConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &target{c: c, account: &targetAccount{ID: "111122223333", cfg: cfg}, regions: []string{"eu-central-1"}}
}

// verdicts evaluates the shipped rules on artefacts: rule id → outcome and failing items.
func verdicts(t *testing.T, arts []evidence.Artefact) map[string]controls.Result {
	t.Helper()
	rs, err := controls.ParseRules("connectors/aws/rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]controls.Result{}
	for _, a := range arts {
		if a.Status.IsGap() {
			t.Fatalf("%s: gap %s", a.Kind, a.Error)
		}
		for _, v := range rs.Evaluate(a.Kind, a.Subject, a.Document, testNow) {
			out[v.Rule] = v
		}
	}
	return out
}

// TestReplayDocumentedIAM collects from documented IAM responses and asserts the verdicts
// their data implies, worked out by hand from the IAM User Guide's description of the
// credential report (testdata/reference/PROVENANCE.md):
//   - root: no active key → root_access_keys passes; password_last_used no_information
//     (never used) → root_usage passes;
//   - bob has a console password (TRUE) and mfa_active FALSE → user_mfa fails, naming bob;
//   - carol's key 1 is active and was last rotated 2026-01-05, over 90 days before
//     2026-11-28 → access_key_rotation fails, naming carol;
//   - carol's key was never used (N/A) and is older than 45 days → unused_credentials
//     fails for carol; bob's password was never used (no_information) but was set on
//     2026-11-01, 27 days ago, so it is not an unused credential;
//   - GetAccountSummary's example has AccountMFAEnabled 0 with AccountAccessKeysPresent 1
//     (root credentials exist) → root_mfa fails.
func TestReplayDocumentedIAM(t *testing.T) {
	csv, err := os.ReadFile("testdata/reference/iam-credential-report-documented.csv")
	if err != nil {
		t.Fatal(err)
	}
	srv := replayIAM(t, csv)
	tg := replayTarget(t, srv.URL)
	ctx := context.Background()
	arts := collectCredentialReport(ctx, tg, []string{"aws.iam.root_access_keys", "aws.iam.root_usage", "aws.iam.user_mfa", "aws.iam.access_key_rotation", "aws.iam.unused_credentials"})
	arts = append(arts, collectAccountSummary(ctx, tg, []string{"aws.iam.root_mfa"})...)
	got := verdicts(t, arts)
	for _, want := range []struct {
		rule    string
		outcome controls.Outcome
		failing []string
	}{
		{"aws.iam.root_access_keys.absent", controls.Pass, nil},
		{"aws.iam.root_usage.not_recent", controls.Pass, nil},
		{"aws.iam.user_mfa.console_users", controls.Fail, []string{"bob"}},
		{"aws.iam.access_key_rotation.max_age", controls.Fail, []string{"carol"}},
		{"aws.iam.unused_credentials.disabled", controls.Fail, []string{"carol"}},
		{"aws.iam.root_mfa.enabled", controls.Fail, nil},
	} {
		v, ok := got[want.rule]
		if !ok {
			t.Errorf("%s: no verdict", want.rule)
			continue
		}
		if v.Outcome != want.outcome {
			t.Errorf("%s: %s (%s), want %s", want.rule, v.Outcome, v.Message, want.outcome)
		}
		if want.failing != nil && strings.Join(v.Failing, ",") != strings.Join(want.failing, ",") {
			t.Errorf("%s: failing %v, want %v", want.rule, v.Failing, want.failing)
		}
	}
}

// TestCredentialReportColumns checks the parser keeps every documented column and maps
// the documented markers (N/A, no_information, not_supported) to absent fields.
func TestCredentialReportColumns(t *testing.T) {
	cols, err := os.ReadFile("testdata/reference/iam-credential-report-columns.txt")
	if err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile("testdata/reference/iam-credential-report-documented.csv")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, l := range strings.Split(strings.TrimSpace(string(cols)), "\n") {
		if !strings.HasPrefix(l, "#") {
			documented = append(documented, l)
		}
	}
	if header := strings.SplitN(string(csv), "\n", 2)[0]; header != strings.Join(documented, ",") {
		t.Fatalf("the documented report's header is not the documented column list:\n%s\n%s", header, strings.Join(documented, ","))
	}
	rows, err := parseCredentialReport(csv)
	if err != nil {
		t.Fatal(err)
	}
	root := rows[0]
	if root["user"] != "<root_account>" || root["mfa_active"] != true {
		t.Errorf("root row: %v", root)
	}
	for _, absent := range []string{"password_enabled", "password_last_used", "password_last_changed", "access_key_1_last_rotated"} {
		if v, ok := root[absent]; ok {
			t.Errorf("root %s = %v, want absent (not_supported, no_information, N/A)", absent, v)
		}
	}
	for _, r := range rows {
		for _, c := range []string{"password_enabled", "mfa_active", "access_key_1_active", "access_key_2_active", "cert_1_active", "cert_2_active"} {
			if v, ok := r[c]; ok {
				if _, isBool := v.(bool); !isBool {
					t.Errorf("%s %s = %#v, want a boolean", r["user"], c, v)
				}
			}
		}
	}
}
