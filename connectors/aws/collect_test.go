package aws

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

const orgSettings = "organizations: {role_name: ExhibitReadOnly}\nregions: [eu-central-1, eu-west-1]"

// callsOf sums the harness counts of calls whose key contains all parts.
func callsOf(h *simkit.Harness, parts ...string) int {
	n := 0
	for k, v := range h.Calls() {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(k, p)
		}
		if ok {
			n += v
		}
	}
	return n
}

func TestPagination(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 1, Users: 5, Buckets: 5, LogGroups: 5, Volumes: 5, PageSize: 2})
	res := collect(context.Background(), e.connector(t, e.settingsYAML(orgSettings)))
	if res.err != nil || len(res.gaps()) > 0 {
		t.Fatalf("err %v gaps %v", res.err, res.gaps())
	}
	acct := e.sim.AccountIDs()[0]
	for _, tc := range []struct {
		name, kind, subject, op, list string
		pages, items                  int
	}{
		{"iam authorization details", "aws.iam.user_attached_policies", "aws:" + acct, "/iam/GetAccountAuthorizationDetails", "Users", 5, 5},
		{"s3 buckets", "aws.s3.bucket_encryption", "aws:" + acct, "/s3/ListBuckets", "Buckets", 3, 5},
		{"log groups (json)", "aws.logs.retention", "aws:" + acct + ":eu-west-1", "eu-west-1/logs/DescribeLogGroups", "LogGroups", 3, 5},
		{"ec2 volumes (ec2 query)", "aws.ec2.ebs_encryption", "aws:" + acct + ":eu-central-1", "eu-central-1/ec2/DescribeVolumes", "Volumes", 3, 5},
		{"organizations accounts", "", "", "/organizations/ListAccounts", "", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := callsOf(e.sim.Harness(), acct, tc.op); got != tc.pages {
				t.Errorf("%d calls of %s, want %d pages", got, tc.op, tc.pages)
			}
			if tc.kind == "" {
				return
			}
			a := res.find(tc.kind, tc.subject)
			if a == nil {
				t.Fatal("missing artefact")
			}
			if got := len(decodeDoc(t, a)[tc.list].([]any)); got != tc.items {
				t.Errorf("%d %s in the document, want %d (pages merged)", got, tc.list, tc.items)
			}
		})
	}
	if rep := e.sim.Harness().Repeated(); len(rep) > 0 {
		t.Errorf("calls made twice: %v", rep)
	}
}

func TestGaps(t *testing.T) {
	mgmt := "100000000000"
	prod := "100000011111"
	for _, tc := range []struct {
		name     string
		fault    simkit.Fault
		attempts int // MaxAttempts
		kind     string
		subject  string
		want     evidence.Status
		calls    int    // calls of op expected (attempts), 0 = not checked
		op       string // harness key part for calls
		okKind   string // a kind of the same area that must still be evidence
		also     string // another kind judged from the faulted call, a gap too
	}{
		{name: "iam AccessDenied is forbidden", fault: sim.Deny(prod, "", "iam", "GetAccountPasswordPolicy"), attempts: 3,
			kind: "aws.iam.password_policy", subject: "aws:" + prod, want: evidence.StatusForbidden, calls: 1, op: prod + "/us-east-1/iam/GetAccountPasswordPolicy", okKind: "aws.iam.root_mfa"},
		{name: "s3 policy denied is a gap of the TLS kind only", fault: sim.Deny(prod, "", "s3", "GetBucketPolicy"), attempts: 3,
			kind: "aws.s3.bucket_tls_policy", subject: "aws:" + prod, want: evidence.StatusForbidden, okKind: "aws.s3.bucket_encryption"},
		{name: "ec2 UnauthorizedOperation is forbidden", fault: sim.Deny(mgmt, "eu-west-1", "ec2", "DescribeNetworkAcls"), attempts: 3,
			kind: "aws.ec2.default_security_groups", subject: "aws:" + mgmt + ":eu-west-1", want: evidence.StatusForbidden, okKind: "aws.ec2.security_group_admin_ports"},
		{name: "restjson AccessDeniedException is forbidden", fault: sim.Deny(mgmt, "eu-central-1", "guardduty", "ListDetectors"), attempts: 3,
			kind: "aws.guardduty.detectors", subject: "aws:" + mgmt + ":eu-central-1", want: evidence.StatusForbidden},
		{name: "json throttled until attempts run out", fault: sim.Throttle(mgmt, "eu-central-1", "kms", "ListKeys", 0), attempts: 3,
			kind: "aws.kms.key_rotation", subject: "aws:" + mgmt + ":eu-central-1", want: evidence.StatusThrottled, calls: 3, op: mgmt + "/eu-central-1/kms/ListKeys"},
		{name: "json throttled twice then retried", fault: sim.Throttle(mgmt, "eu-central-1", "kms", "ListKeys", 2), attempts: 5,
			kind: "aws.kms.key_rotation", subject: "aws:" + mgmt + ":eu-central-1", want: evidence.StatusOK, calls: 4, op: mgmt + "/eu-central-1/kms/ListKeys"},
		{name: "query throttled until attempts run out", fault: sim.Throttle(prod, "", "iam", "GetAccountSummary", 0), attempts: 4,
			kind: "aws.iam.root_mfa", also: "aws.iam.root_hardware_mfa", subject: "aws:" + prod, want: evidence.StatusThrottled, calls: 4, op: prod + "/us-east-1/iam/GetAccountSummary"},
		{name: "ec2 RequestLimitExceeded retried", fault: sim.Throttle(prod, "eu-west-1", "ec2", "DescribeVpcs", 1), attempts: 3,
			kind: "aws.ec2.vpc_flow_logs", subject: "aws:" + prod + ":eu-west-1", want: evidence.StatusOK, calls: 2, op: prod + "/eu-west-1/ec2/DescribeVpcs"},
		{name: "s3 SlowDown until attempts run out", fault: sim.Throttle(prod, "", "s3", "GetBucketVersioning", 0), attempts: 2,
			kind: "aws.s3.bucket_versioning", subject: "aws:" + prod, want: evidence.StatusThrottled, okKind: "aws.s3.bucket_encryption"},
		{name: "restjson 429 retried", fault: sim.Throttle(prod, "eu-west-1", "securityhub", "DescribeHub", 2), attempts: 3,
			kind: "aws.securityhub.hub", subject: "aws:" + prod + ":eu-west-1", want: evidence.StatusOK, calls: 3, op: prod + "/eu-west-1/securityhub/DescribeHub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startSim(t, sim.Options{Accounts: 2, Faults: []simkit.Fault{tc.fault}})
			c := e.connector(t, e.settingsYAML(orgSettings), func(o *connector.Options) { o.Limits.MaxAttempts = tc.attempts })
			res := collect(context.Background(), c)
			if res.err != nil {
				t.Fatal(res.err)
			}
			a := res.find(tc.kind, tc.subject)
			if a == nil {
				t.Fatalf("no artefact %s %s", tc.kind, tc.subject)
			}
			if a.Status != tc.want {
				t.Errorf("status %s (%s), want %s", a.Status, a.Error, tc.want)
			}
			if tc.calls > 0 {
				if got := callsOf(e.sim.Harness(), tc.op); got != tc.calls {
					t.Errorf("%d attempts of %s, want %d", got, tc.op, tc.calls)
				}
			}
			if tc.okKind != "" {
				if ok := res.find(tc.okKind, tc.subject); ok == nil || ok.Status != evidence.StatusOK {
					t.Errorf("%s should still be evidence: %+v", tc.okKind, ok)
				}
			}
			// Only the faulted kind is missing.
			for _, g := range res.gaps() {
				if tc.want == evidence.StatusOK || !strings.HasPrefix(g, tc.kind+" "+tc.subject+" ") && (tc.also == "" || !strings.HasPrefix(g, tc.also+" "+tc.subject+" ")) {
					t.Errorf("unexpected gap: %s", g)
				}
			}
		})
	}
}

func TestAssumeRole(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 3, ExternalID: "ext-1234"})
	ids := e.sim.AccountIDs()
	accounts := func(ext string) string {
		return "accounts:\n" +
			"  - {id: \"" + ids[1] + "\", role_arn: \"arn:aws:iam::" + ids[1] + ":role/ExhibitReadOnly\", external_id: " + ext + "}\n" +
			"  - {id: \"" + ids[2] + "\", role_arn: \"arn:aws:iam::" + ids[2] + ":role/ExhibitReadOnly\", external_id: " + ext + "}\n" +
			"regions: [eu-central-1]"
	}
	t.Run("two accounts", func(t *testing.T) {
		res := collect(context.Background(), e.connector(t, e.settingsYAML(accounts("ext-1234"))))
		if res.err != nil || len(res.gaps()) > 0 {
			t.Fatalf("err %v gaps %v", res.err, res.gaps())
		}
		subjects := map[string]bool{}
		for _, a := range res.arts {
			subjects[strings.SplitN(a.Subject, ":", 3)[1]] = true
			for _, x := range a.Exchanges {
				if strings.Contains(x.URL, "AssumeRole") {
					t.Errorf("%s records an STS exchange", a.Kind)
				}
			}
		}
		if len(subjects) != 2 || !subjects[ids[1]] || !subjects[ids[2]] {
			t.Errorf("subjects %v, want the two assumed accounts", subjects)
		}
		// Each account's calls were made with its own assumed credentials.
		if n := callsOf(e.sim.Harness(), "/sts/AssumeRole"); n != 2 {
			t.Errorf("%d AssumeRole calls, want 2 (one per account, cached)", n)
		}
		if n := callsOf(e.sim.Harness(), ids[1]+"/us-east-1/iam/GetAccountSummary"); n != 1 {
			t.Errorf("account %s: %d GetAccountSummary calls attributed, want 1", ids[1], n)
		}
		e.authMu.Lock()
		n := len(e.authCalls)
		e.authMu.Unlock()
		if n != 2 {
			t.Errorf("%d requests through the auth client, want the 2 AssumeRole calls", n)
		}
	})
	t.Run("wrong external id", func(t *testing.T) {
		res := collect(context.Background(), e.connector(t, e.settingsYAML(accounts("wrong"))))
		if res.err == nil || !strings.Contains(res.err.Error(), "could not get credentials for any of 2 accounts") {
			t.Errorf("err %v", res.err)
		}
		if len(res.arts) != 2*len(kinds) {
			t.Errorf("%d artefacts, want a gap per kind and account (%d)", len(res.arts), 2*len(kinds))
		}
		for _, a := range res.arts {
			if a.Status != evidence.StatusForbidden {
				t.Errorf("%s %s: %s, want forbidden", a.Kind, a.Subject, a.Status)
			}
		}
	})
}

func TestOrganizationsDiscovery(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 5})
	ids := e.sim.AccountIDs()
	for _, tc := range []struct {
		name    string
		filters string
		want    []string
		err     string
	}{
		{"all", "", ids, ""},
		{"include by id", "include: [\"" + ids[1] + "\", \"" + ids[3] + "\"]", []string{ids[1], ids[3]}, ""},
		{"include by name glob", "include: [\"workload-*\"]", []string{ids[3], ids[4]}, ""},
		{"exclude by name", "exclude: [management, development]", []string{ids[1], ids[3], ids[4]}, ""},
		{"exclude wins", "include: [\"*\"]\n  exclude: [\"workload-0?\"]", ids[:3], ""},
		{"nothing left", "include: [nomatch]", nil, "no account matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "organizations:\n  role_name: ExhibitReadOnly\n"
			if tc.filters != "" {
				yaml += "  " + tc.filters + "\n"
			}
			c := e.connector(t, e.settingsYAML(yaml+"regions: [eu-central-1]\nexclude_kinds: [aws.iam.root_mfa]"))
			res := collect(context.Background(), c)
			if tc.err != "" {
				if res.err == nil || !strings.Contains(res.err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", res.err, tc.err)
				}
				return
			}
			if res.err != nil {
				t.Fatal(res.err)
			}
			got := map[string]bool{}
			for _, a := range res.arts {
				if a.Kind == "aws.iam.root_mfa" {
					t.Errorf("excluded kind collected")
				}
				got[strings.SplitN(a.Subject, ":", 3)[1]] = true
			}
			if len(got) != len(tc.want) {
				t.Errorf("accounts %v, want %v", got, tc.want)
			}
			for _, id := range tc.want {
				if !got[id] {
					t.Errorf("account %s missing", id)
				}
			}
		})
	}
}

// TestCancellation cancels while a listing is in its second page, which the simulator never
// answers: Collect must return the context's error instead of waiting for it.
func TestCancellation(t *testing.T) {
	hang := simkit.Fault{Path: `^/[^/]+/[^/]+/s3/ListBuckets\?.*continuation-token=`, Kind: simkit.Hang}
	s := sim.New(sim.Options{Accounts: 1, Now: testNow, Faults: []simkit.Fault{hang}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel as soon as the second page is requested (the request then hangs).
	srv, err := simkit.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("continuation-token") {
			cancel()
		}
		s.Handler().ServeHTTP(w, r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	e := &simEnv{sim: s, url: srv.URL, tr: testTransport()}
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(e.tr.CloseIdleConnections)
	c := e.connector(t, e.settingsYAML("regions: [eu-central-1]\norganizations: {role_name: ExhibitReadOnly}"))
	done := make(chan error, 1)
	go func() { done <- c.Collect(ctx, func(evidence.Artefact) error { return nil }) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Collect returned %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute): // a safety net against a hang, not a timing assertion
		t.Fatal("Collect did not return after cancellation")
	}
	if n := callsOf(s.Harness(), "/s3/ListBuckets", "continuation-token"); n != 1 {
		t.Errorf("%d second-page requests, want the 1 that hung", n)
	}
}

// TestDeterministicDocuments: the same organisation collected twice gives the same
// documents and the same raw response bodies, so unchanged evidence is stored once.
func TestDeterministicDocuments(t *testing.T) {
	run := func() map[string]string {
		e := startSim(t, sim.Options{Accounts: 2, Seed: 7})
		res := collect(context.Background(), e.connector(t, e.settingsYAML(orgSettings), e.capture))
		if res.err != nil {
			t.Fatal(res.err)
		}
		out := map[string]string{}
		for _, a := range res.arts {
			out[a.Kind+" "+a.Subject] = evidence.Sum(a.Document).String()
			var bodies []string
			for _, x := range a.Exchanges {
				bodies = append(bodies, x.Body.Digest.String())
			}
			sort.Strings(bodies)
			out[a.Kind+" "+a.Subject+" raw"] = strings.Join(bodies, " ")
		}
		return out
	}
	a, b := run(), run()
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d vs %d artefacts", len(a), len(b))
	}
	for k, d := range a {
		if b[k] != d {
			t.Errorf("%s: digest %s then %s", k, d, b[k])
		}
	}
}

func TestOptInRegionNotEnabled(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 1})
	res := collect(context.Background(), e.connector(t, e.settingsYAML("regions: [eu-central-1, "+sim.OptInRegion+"]\norganizations: {role_name: ExhibitReadOnly}")))
	if res.err != nil {
		t.Fatal(res.err)
	}
	subject := "aws:" + e.sim.AccountIDs()[0] + ":" + sim.OptInRegion
	n := 0
	for _, a := range res.arts {
		if a.Subject == subject {
			n++
			if a.Status != evidence.StatusNotEnabled || !strings.Contains(a.Error, "not enabled") {
				t.Errorf("%s: %s %q, want not_enabled", a.Kind, a.Status, a.Error)
			}
		}
	}
	if n == 0 {
		t.Error("no gaps for the opt-in region")
	}
	if callsOf(e.sim.Harness(), "/"+sim.OptInRegion+"/") != 0 {
		t.Error("the connector called into a region that is not enabled")
	}
}

func TestCredentialReportPolling(t *testing.T) {
	for _, tc := range []struct {
		name  string
		polls int
		want  evidence.Status
		waits int
	}{
		{"ready at once", 0, evidence.StatusOK, 0},
		{"ready after two polls", 2, evidence.StatusOK, 2},
		{"never ready", 1000, evidence.StatusFailed, credentialReportPolls - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startSim(t, sim.Options{Accounts: 1, ReportPolls: tc.polls})
			now := testNow
			c := e.connector(t, e.settingsYAML("regions: [eu-central-1]\norganizations: {role_name: ExhibitReadOnly}"), func(o *connector.Options) {
				o.Now = func() time.Time { return now }
			})
			waits := 0
			c.wait = func(ctx context.Context, d time.Duration) error {
				waits++
				now = now.Add(d) // the fake clock advances by the wait
				return nil
			}
			res := collect(context.Background(), c)
			a := res.find("aws.iam.root_access_keys", "aws:"+e.sim.AccountIDs()[0])
			if a == nil || a.Status != tc.want {
				t.Fatalf("artefact %+v, want %s", a, tc.want)
			}
			if waits != tc.waits {
				t.Errorf("%d waits, want %d", waits, tc.waits)
			}
		})
	}
}

// TestCaptureThroughTransport runs the connector through the framework's capturing
// transport: every artefact carries its exchanges, whose bodies are in the store.
func TestCaptureThroughTransport(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 1, Faults: []simkit.Fault{sim.Deny("", "eu-central-1", "guardduty", "ListDetectors")}})
	res := collect(context.Background(), e.connector(t, e.settingsYAML("regions: [eu-central-1]\norganizations: {role_name: ExhibitReadOnly}"), e.capture))
	if res.err != nil {
		t.Fatal(res.err)
	}
	for _, a := range res.arts {
		if a.Kind == "aws.guardduty.detectors" {
			// The denied call's 403 is the provenance of the gap.
			if a.Status != evidence.StatusForbidden || len(a.Exchanges) != 1 || a.Exchanges[0].Status != http.StatusForbidden {
				t.Errorf("guardduty gap %s with exchanges %+v, want forbidden with the 403 exchange", a.Status, a.Exchanges)
			}
			continue
		}
		if a.Status.IsGap() {
			t.Errorf("gap %s: %s", a.Kind, a.Error)
			continue
		}
		if len(a.Exchanges) == 0 {
			t.Errorf("%s has no exchanges", a.Kind)
		}
		for _, x := range a.Exchanges {
			if _, err := e.store.Stat(context.Background(), x.Body.Digest); err != nil && x.Body.Size > 0 {
				t.Errorf("%s: body of %s not stored: %v", a.Kind, x.URL, err)
			}
		}
	}
}

func TestSettings(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 1})
	for _, tc := range []struct {
		name, yaml, err string
	}{
		{"no regions", "accounts: [{id: \"123456789012\"}]", "regions: list the regions"},
		{"both region forms", "regions: [eu-west-1]\nall_regions: true", "either regions or all_regions"},
		{"bad region", "regions: [europe]", "want a region name"},
		{"bad account id", "regions: [eu-west-1]\naccounts: [{id: \"12\"}]", "accounts[0].id: want a 12-digit"},
		{"role in other account", "regions: [eu-west-1]\naccounts: [{id: \"123456789012\", role_arn: \"arn:aws:iam::210987654321:role/X\"}]", "is not in account"},
		{"accounts and organizations", "regions: [eu-west-1]\naccounts: [{id: \"123456789012\"}]\norganizations: {role_name: X}", "either accounts or organizations"},
		{"unknown key", "regions: [eu-west-1]\nregion: eu-west-1", "region"},
		{"unknown endpoint service", "regions: [eu-west-1]\nendpoints: {lambda: \"http://127.0.0.1:1\"}", "unknown service \"lambda\""},
		{"bad endpoint", "regions: [eu-west-1]\nendpoints: {iam: \"ftp://x\"}", "want an http(s) URL"},
		{"concurrency", "regions: [eu-west-1]\nconcurrency: 0\nall_regions: false", ""},
		{"service concurrency", "regions: [eu-west-1]\nservice_concurrency: {iam: 100}", "want 1..64"},
		{"unknown kind", "regions: [eu-west-1]\nexclude_kinds: [aws.nope]", "unknown kind"},
		{"bad pattern", "regions: [eu-west-1]\norganizations: {role_name: R, include: [\"[\"]}", "invalid pattern"},
		{"good", "regions: [eu-west-1]\norganizations: {role_name: R, exclude: [\"sandbox-*\"]}\nservice_concurrency: {iam: 1}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := newSettingsForTest(e.settingsYAML(tc.yaml))
			if err == nil {
				_, err = newConnector(st, e.options())
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want %q", err, tc.err)
			case err != nil && !strings.Contains(err.Error(), "test.yaml:"):
				t.Errorf("error %v does not name the file and line", err)
			}
		})
	}
}

var _ = http.StatusOK

func TestRegionsAndEndpoints(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 1, Regions: []string{"eu-central-1", "eu-west-1", "us-east-2"}})
	id := e.sim.AccountIDs()[0]
	t.Run("all enabled regions", func(t *testing.T) {
		res := collect(context.Background(), e.connector(t, e.settingsYAML("all_regions: true")))
		if res.err != nil || len(res.gaps()) > 0 {
			t.Fatalf("err %v gaps %v", res.err, res.gaps())
		}
		for _, r := range []string{"eu-central-1", "eu-west-1", "us-east-2"} {
			if res.find("aws.guardduty.detectors", "aws:"+id+":"+r) == nil {
				t.Errorf("region %s not collected", r)
			}
		}
		if res.find("aws.guardduty.detectors", "aws:"+id+":"+sim.OptInRegion) != nil {
			t.Errorf("the opt-in region that is not enabled was collected")
		}
	})
	t.Run("per-service endpoints", func(t *testing.T) {
		// Every service but the overridden ones points at a closed port.
		yaml := strings.Join([]string{
			"credentials: {access_key_id_env: " + sim.EnvAccessKeyID + ", secret_access_key_env: " + sim.EnvSecretAccessKey + "}",
			"endpoint_url: http://127.0.0.1:1",
			"endpoints: {sts: " + e.url + ", ec2: " + e.url + ", iam: " + e.url + "}",
			"regions: [eu-central-1]",
			"concurrency: 2",
		}, "\n")
		res := collect(context.Background(), e.connector(t, yaml, func(o *connector.Options) { o.Limits.MaxAttempts = 1 }))
		if res.err != nil {
			t.Fatal(res.err)
		}
		for _, kind := range []string{"aws.iam.root_mfa", "aws.ec2.vpc_flow_logs"} {
			if a := res.find(kind, "aws:"+id+map[bool]string{true: ":eu-central-1"}[strings.HasPrefix(kind, "aws.ec2")]); a == nil || a.Status != evidence.StatusOK {
				t.Errorf("%s through the overridden endpoint: %+v", kind, a)
			}
		}
		if a := res.find("aws.kms.key_rotation", "aws:"+id+":eu-central-1"); a == nil || a.Status != evidence.StatusFailed {
			t.Errorf("kms through the closed default endpoint should be a failed gap: %+v", a)
		}
	})
}
