package msgraph

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

const (
	pseudonymSetting = "pseudonymise: {fields: [userPrincipalName, mail, displayName, deviceName], key_env: PSEUDONYM_KEY}\n"
	pseudonymKey     = "a-32-byte-test-key-not-a-secret!"
)

// personPaths are the Graph paths (below /v1.0) whose responses name people, with the
// paths below them.
var personPaths = []string{"/users", "/reports/authenticationMethods/userRegistrationDetails", "/auditLogs", "/deviceManagement/managedDevices"}

func isPersonEndpoint(t testing.TB, rawURL string) bool {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("recorded URL %q: %v", rawURL, err)
	}
	p := strings.TrimPrefix(u.Path, "/v1.0")
	for _, pp := range personPaths {
		if p == pp || strings.HasPrefix(p, pp+"/") {
			return true
		}
	}
	return false
}

func TestPseudonymisation(t *testing.T) {
	env := map[string]string{"PSEUDONYM_KEY": pseudonymKey}
	h := newHarness(t, sim.Options{}, pseudonymSetting, env)
	first, err := h.collect(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.collectWith(t, h.newConnector(t, sim.DemoSettings(h.srv.URL)+pseudonymSetting))
	if err != nil {
		t.Fatal(err)
	}
	for kind, a := range first {
		if status(a) == evidence.StatusOK && !bytes.Equal(a.Document, second[kind].Document) {
			t.Errorf("%s: document differs between runs: pseudonyms are not stable", kind)
		}
	}
	// No original value in any document, gap message, exchange URL or stored object.
	values := h.sim.PersonalValues()
	check := func(where string, b []byte) {
		low := bytes.ToLower(b)
		for _, v := range values {
			if bytes.Contains(low, []byte(strings.ToLower(v))) {
				t.Errorf("%s contains %q", where, v)
			}
		}
	}
	for kind, a := range first {
		check(kind+" document", a.Document)
		check(kind+" error", []byte(a.Error))
		for _, x := range a.Exchanges {
			u, err := url.PathUnescape(x.URL)
			if err != nil {
				t.Fatal(err)
			}
			check(kind+" exchange URL", []byte(u))
		}
	}
	stored := 0
	err = h.store.List(context.Background(), func(info store.Info) error {
		b, err := store.GetBytes(context.Background(), h.store, info.Digest)
		check("stored object "+info.Digest.String(), b)
		stored++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if stored == 0 {
		t.Error("no raw body stored at all")
	}

	// Every exchange of a person endpoint has its (pseudonymised) body stored.
	persons := 0
	for kind, a := range first {
		for _, x := range a.Exchanges {
			if !isPersonEndpoint(t, x.URL) {
				continue
			}
			persons++
			if x.Body.Size == 0 {
				t.Errorf("%s: person exchange %s %s has no body", kind, x.Method, x.URL)
				continue
			}
			if _, err := store.GetBytes(context.Background(), h.store, x.Body.Digest); err != nil {
				t.Errorf("%s: body of person exchange %s is not stored: %v", kind, x.URL, err)
			}
		}
	}
	if persons == 0 {
		t.Fatal("no person exchange recorded: the test would prove nothing")
	}

	// The documents' rows are re-derived from the stored raw bodies: same ids, same
	// pseudonyms, in the same order.
	rederive := []struct {
		kind, list string
		fields     []string
	}{
		{KindMFARegistration, "users", []string{"id", "userPrincipalName", "userDisplayName"}},
		{KindSignInActivity, "users", []string{"id", "userPrincipalName", "displayName"}},
		{KindManagedDevices, "devices", []string{"id", "deviceName", "userPrincipalName"}},
	}
	for _, c := range rederive {
		a := first[c.kind]
		doc := decodeDoc(t, a)
		var fromDoc, fromBodies []map[string]any
		for _, row := range doc[c.list].([]any) {
			fromDoc = append(fromDoc, pick(row.(map[string]any), c.fields))
		}
		for _, x := range a.Exchanges {
			var p struct{ Value []map[string]any }
			if err := json.Unmarshal(storedBody(t, h, x), &p); err != nil {
				t.Fatalf("%s: stored body of %s: %v", c.kind, x.URL, err)
			}
			for _, row := range p.Value {
				fromBodies = append(fromBodies, pick(row, c.fields))
			}
			// The exchange says what was pseudonymised where, one entry per field path.
			if got := redactionCount(x, connector.RulePseudonym, "$.value[*].userPrincipalName"); got != len(p.Value) {
				t.Errorf("%s: exchange %s lists %d pseudonymised userPrincipalName values, want %d (%+v)", c.kind, x.URL, got, len(p.Value), x.Redactions)
			}
		}
		if len(fromDoc) == 0 || !strings.HasPrefix(str(fromDoc[0]["userPrincipalName"]), pseudonymPrefix) {
			t.Errorf("%s: first row %v holds no pseudonym", c.kind, fromDoc)
		}
		if !jsonEqual(t, fromDoc, fromBodies) {
			t.Errorf("%s: rows re-derived from the stored bodies differ from the document:\n doc    %v\n bodies %v", c.kind, head(fromDoc), head(fromBodies))
		}
	}
	// The break-glass accounts were configured by UPN and are still found; the lookups'
	// stored bodies name them by the same pseudonyms as the document.
	var lookedUp []string
	for _, x := range first[KindBreakGlass].Exchanges {
		if u, _ := url.Parse(x.URL); strings.Count(strings.TrimPrefix(u.Path, "/v1.0/users/"), "/") != 0 || !strings.HasPrefix(u.Path, "/v1.0/users/") {
			continue // the policies the accounts are found in, their FIDO2 keys
		}
		var u map[string]any
		if err := json.Unmarshal(storedBody(t, h, x), &u); err != nil {
			t.Fatal(err)
		}
		lookedUp = append(lookedUp, str(u["userPrincipalName"]))
	}
	bg := decodeDoc(t, first[KindBreakGlass])
	var inDoc []string
	for _, acc := range bg["accounts"].([]any) {
		a := acc.(map[string]any)
		if a["exists"] != true || !strings.HasPrefix(a["userPrincipalName"].(string), pseudonymPrefix) {
			t.Errorf("break-glass account %v", a)
		}
		inDoc = append(inDoc, str(a["userPrincipalName"]))
	}
	if len(inDoc) == 0 || strings.Join(inDoc, ",") != strings.Join(lookedUp, ",") {
		t.Errorf("break-glass accounts %v, stored lookups %v", inDoc, lookedUp)
	}

	// The artefact says which document paths hold pseudonyms.
	if got := first[KindMFARegistration].Pseudonymised; strings.Join(got, ",") != "users[].userDisplayName,users[].userPrincipalName" {
		t.Errorf("registration details pseudonymised %v", got)
	}
	if got := first[KindManagedDevices].Pseudonymised; strings.Join(got, ",") != "devices[].deviceName,devices[].userPrincipalName" {
		t.Errorf("managed devices pseudonymised %v", got)
	}
	// Another key gives other pseudonyms.
	h.env["PSEUDONYM_KEY"] = "another-key-another-key-another!"
	third, err := h.collectWith(t, h.newConnector(t, sim.DemoSettings(h.srv.URL)+pseudonymSetting))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(third[KindMFARegistration].Document, first[KindMFARegistration].Document) {
		t.Error("a different key gave the same pseudonyms")
	}
	// Without the key nothing is collected.
	delete(h.env, "PSEUDONYM_KEY")
	if _, err := h.collectWith(t, h.newConnector(t, sim.DemoSettings(h.srv.URL)+pseudonymSetting)); err == nil || !strings.Contains(err.Error(), "pseudonymisation key") {
		t.Errorf("collect without the key: %v", err)
	}
}

// TestPseudonymisationWithoutCapture runs the connector with an HTTP client that does not
// capture (so nothing applies the exchange filter below it): the connector pseudonymises
// the bodies itself, and the documents still name nobody.
func TestPseudonymisationWithoutCapture(t *testing.T) {
	h := newHarness(t, sim.Options{}, "", map[string]string{"PSEUDONYM_KEY": pseudonymKey})
	opts := h.options()
	opts.HTTPClient = &http.Client{Transport: http.DefaultTransport}
	arts, err := h.collectFrom(t, context.Background(), h.newConnectorWith(t, sim.DemoSettings(h.srv.URL)+pseudonymSetting, opts))
	if err != nil {
		t.Fatal(err)
	}
	values := h.sim.PersonalValues()
	for kind, a := range arts {
		low := bytes.ToLower(a.Document)
		for _, v := range values {
			if bytes.Contains(low, []byte(strings.ToLower(v))) {
				t.Errorf("%s document contains %q", kind, v)
			}
		}
	}
	if got := arts[KindMFARegistration].Pseudonymised; len(got) == 0 {
		t.Error("registration details hold no pseudonym")
	}
}

func TestPseudonymiseBody(t *testing.T) {
	p := newPseudonymiser([]byte(pseudonymKey), []string{"userPrincipalName", "mail", "displayName"})
	alice, bob := p.pseudonym("Alice@Contoso.com"), p.pseudonym("bob@contoso.com")
	tests := []struct {
		name     string
		status   int
		body     string
		want     string
		wantReds []evidence.Redaction
	}{
		{"page of users", 200,
			`{"value":[{"userPrincipalName":"alice@contoso.com","mail":"alice@contoso.com","otherMails":["a@b.example"],"id":"1","n":1.50},{"userPrincipalName":"bob@contoso.com","displayName":""}]}`,
			`{"value":[{"id":"1","mail":"` + alice + `","n":1.50,"otherMails":["` + p.pseudonym("a@b.example") + `"],"userPrincipalName":"` + alice + `"},{"displayName":"","userPrincipalName":"` + bob + `"}]}`,
			[]evidence.Redaction{{Rule: "pseudonym", Location: "$.value[*].mail", Count: 1}, {Rule: "pseudonym", Location: "$.value[*].otherMails[*]", Count: 1}, {Rule: "pseudonym", Location: "$.value[*].userPrincipalName", Count: 2}}},
		{"nothing personal keeps the bytes", 200, `{"value": [], "@odata.context": "x"}`, `{"value": [], "@odata.context": "x"}`, nil},
		{"pseudonyms are not pseudonymised again", 200, `{"userPrincipalName":"` + alice + `"}`, `{"userPrincipalName":"` + alice + `"}`, nil},
		{"e-mail in an error message", 404,
			`{"error":{"code":"Request_ResourceNotFound","message":"Resource 'alice@contoso.com' does not exist."}}`,
			`{"error":{"code":"Request_ResourceNotFound","message":"Resource '` + alice + `' does not exist."}}`,
			[]evidence.Redaction{{Rule: "pseudonym", Location: "$.error.message", Count: 1}}},
		{"e-mail in a success body's free text is kept", 200, `{"note":"alice@contoso.com"}`, `{"note":"alice@contoso.com"}`, nil},
		{"escaped e-mail in an error", 400, `{"error":{"message":"alice\u0040contoso.com"}}`, `{"error":{"message":"` + alice + `"}}`,
			[]evidence.Redaction{{Rule: "pseudonym", Location: "$.error.message", Count: 1}}},
		{"odd keys are quoted", 200, `{"a b":{"mail":"alice@contoso.com"},"x.y":[{"mail":"bob@contoso.com"}]}`, `{"a b":{"mail":"` + alice + `"},"x.y":[{"mail":"` + bob + `"}]}`,
			[]evidence.Redaction{{Rule: "pseudonym", Location: `$["a b"].mail`, Count: 1}, {Rule: "pseudonym", Location: `$["x.y"][*].mail`, Count: 1}}},
		{"not JSON", 502, `<html>bob@contoso.com and alice@contoso.com</html>`, `<html>` + bob + ` and ` + alice + `</html>`,
			[]evidence.Redaction{{Rule: "pseudonym", Location: "body", Count: 2}}},
		{"empty", 204, ``, ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reds, err := p.pseudonymiseBody(tt.status, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("body\n got %s\nwant %s", got, tt.want)
			}
			if len(reds) != len(tt.wantReds) {
				t.Fatalf("redactions %+v, want %+v", reds, tt.wantReds)
			}
			for i := range reds {
				if reds[i] != tt.wantReds[i] {
					t.Errorf("redaction %d: %+v, want %+v", i, reds[i], tt.wantReds[i])
				}
			}
		})
	}
}

func TestPseudonymiseURL(t *testing.T) {
	p := newPseudonymiser([]byte(pseudonymKey), []string{"userPrincipalName"})
	alice := p.pseudonym("alice@contoso.com")
	tests := []struct{ name, in, want string }{
		{"lookup by UPN", "https://graph.example/v1.0/users/alice%40contoso.com?$select=id", "https://graph.example/v1.0/users/" + alice + "?$select=id"},
		{"filter on a mail address", "https://graph.example/v1.0/users?$filter=mail%20eq%20'alice%40contoso.com'", "https://graph.example/v1.0/users?$filter=" + url.QueryEscape("mail eq '"+alice+"'")},
		{"nobody named: kept as sent", "https://graph.example/v1.0/users?$top=500&$skiptoken=a%40b", "https://graph.example/v1.0/users?$top=500&$skiptoken=a%40b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			p.pseudonymiseURL(u)
			if got := u.String(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func storedBody(t *testing.T, h *harness, x evidence.Exchange) []byte {
	t.Helper()
	b, err := store.GetBytes(context.Background(), h.store, x.Body.Digest)
	if err != nil {
		t.Fatalf("body of %s %s: %v", x.Method, x.URL, err)
	}
	return b
}

func pick(m map[string]any, fields []string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		out[f] = m[f]
	}
	return out
}

func redactionCount(x evidence.Exchange, rule, location string) int {
	n := 0
	for _, r := range x.Redactions {
		if r.Rule == rule && r.Location == location {
			n += r.Count
		}
	}
	return n
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func head(rows []map[string]any) []map[string]any { return rows[:min(len(rows), 3)] }
