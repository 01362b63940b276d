package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/connector/connectortest"
)

// TestConformance runs the conformance suite every connector passes (connectors/README.md).
func TestConformance(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	connectortest.Run(t, connectortest.Harness{
		Factory: Factory{},
		Start: func(t *testing.T, wrap func(http.Handler) http.Handler) connectortest.Connect {
			return conformanceStart(t, wrap, true)
		},
		// Faults on the organisation's account listing would stop everything else: the
		// fault checks collect from one account, so every kind's own requests fail.
		FaultStart: func(t *testing.T, wrap func(http.Handler) http.Handler) connectortest.Connect {
			return conformanceStart(t, wrap, false)
		},
		Rules:      rules,
		RuleCases:  "testdata/rule_cases.yaml",
		README:     readme,
		Permission: iamAction,
		SpareFromFaults: func(r *http.Request, body []byte) bool {
			return strings.Contains(string(body), "Action=GetCallerIdentity")
		},
		DeployPermissions: func() ([]string, error) {
			var out []string
			for _, name := range []string{"exhibit-readonly-policy.json", "exhibit-collector-policy.json"} {
				b, err := os.ReadFile("../../deploy/aws/" + name)
				if err != nil {
					return nil, err
				}
				var p struct {
					Statement []struct {
						Effect string
						Action []string
					}
				}
				if err := json.Unmarshal(b, &p); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				for _, s := range p.Statement {
					if s.Effect == "Allow" {
						out = append(out, s.Action...)
					}
				}
			}
			return out, nil
		},
	})
}

// conformanceStart serves the demo organisation behind wrap, and collects from all its
// accounts (organizations discovery) or from the management account alone.
func conformanceStart(t *testing.T, wrap func(http.Handler) http.Handler, organization bool) connectortest.Connect {
	s := sim.New(sim.Options{Now: testNow})
	srv, err := simkit.Serve(wrap(s.Handler()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	settings := sim.DemoSettings(srv.URL)
	if !organization {
		settings = strings.Join([]string{
			"credentials:",
			"  access_key_id_env: " + sim.EnvAccessKeyID,
			"  secret_access_key_env: " + sim.EnvSecretAccessKey,
			"regions: [eu-central-1]",
			"endpoint_url: " + srv.URL,
		}, "\n")
	}
	return func(t *testing.T, opts connector.Options) connector.Connector {
		st, err := config.NewSettings("test.yaml", settings)
		if err != nil {
			t.Fatal(err)
		}
		opts.Now = func() time.Time { return testNow }
		opts.Secrets = &config.Secrets{LookupEnv: func(k string) (string, bool) {
			v, ok := sim.DemoEnv()[k]
			return v, ok
		}}
		c, err := newConnector(st, opts)
		if err != nil {
			t.Fatal(err)
		}
		c.backoff = noBackoff{}
		c.wait = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
		return c
	}
}

// credentialScope finds the signing name in a SigV4 Authorization header:
// Credential=AKID/20261128/eu-central-1/<service>/aws4_request.
var credentialScope = regexp.MustCompile(`Credential=[^/]+/[0-9]{8}/[^/]+/([^/]+)/aws4_request`)

// iamPrefix maps signing names to IAM service prefixes where the two differ (Service
// Authorization Reference).
var iamPrefix = map[string]string{"monitoring": "cloudwatch"}

// restActions map the REST operations of the services without an action in the request
// (REST-JSON, REST-XML) to IAM actions, from each service's API reference.
var restActions = map[string][]struct {
	method string
	path   *regexp.Regexp
	query  string // a parameter that selects the operation (S3 sub-resources)
	action string
}{
	"s3": {
		{"GET", regexp.MustCompile(`^/$`), "", "ListAllMyBuckets"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "policy", "GetBucketPolicy"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "policyStatus", "GetBucketPolicyStatus"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "encryption", "GetEncryptionConfiguration"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "versioning", "GetBucketVersioning"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "publicAccessBlock", "GetBucketPublicAccessBlock"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "object-lock", "GetBucketObjectLockConfiguration"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "logging", "GetBucketLogging"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "location", "GetBucketLocation"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "acl", "GetBucketAcl"},
		{"GET", regexp.MustCompile(`^/[^/]+/?$`), "ownershipControls", "GetBucketOwnershipControls"},
		{"GET", regexp.MustCompile(`^/v20180820/configuration/publicAccessBlock$`), "", "GetAccountPublicAccessBlock"},
	},
	"guardduty": {
		{"GET", regexp.MustCompile(`^/detector$`), "", "ListDetectors"},
		{"GET", regexp.MustCompile(`^/detector/[^/]+$`), "", "GetDetector"},
	},
	"securityhub": {
		{"GET", regexp.MustCompile(`^/accounts$`), "", "DescribeHub"},
		{"POST", regexp.MustCompile(`^/standards/get$`), "", "GetEnabledStandards"},
	},
	"access-analyzer": {
		{"GET", regexp.MustCompile(`^/analyzer$`), "", "ListAnalyzers"},
	},
	"inspector2": {
		{"POST", regexp.MustCompile(`^/status/batch/get$`), "", "BatchGetAccountStatus"},
	},
	"macie2": {
		{"GET", regexp.MustCompile(`^/macie$`), "", "GetMacieSession"},
	},
	"backup": {
		{"GET", regexp.MustCompile(`^/backup/plans/?$`), "", "ListBackupPlans"},
		{"GET", regexp.MustCompile(`^/backup/plans/[^/]+/?$`), "", "GetBackupPlan"},
		{"GET", regexp.MustCompile(`^/backup/plans/[^/]+/selections/?$`), "", "ListBackupSelections"},
		{"GET", regexp.MustCompile(`^/backup-vaults/?$`), "", "ListBackupVaults"},
	},
	"account": {
		{"POST", regexp.MustCompile(`^/getAlternateContact$`), "", "GetAlternateContact"},
	},
}

// iamAction names the IAM action one AWS request needs: the service from the SigV4
// credential scope, the operation from the query protocol's Action, the JSON protocol's
// X-Amz-Target, the RPC v2 CBOR path, or the REST operation tables above.
func iamAction(r *http.Request, body []byte) ([]string, error) {
	a, err := iamActionOf(r, body)
	if a == "" {
		return nil, err
	}
	return []string{a}, err
}

func iamActionOf(r *http.Request, body []byte) (string, error) {
	m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "", fmt.Errorf("no SigV4 credential scope")
	}
	service := m[1]
	prefix := service
	if p, ok := iamPrefix[service]; ok {
		prefix = p
	}
	if service == "sts" && strings.Contains(string(body), "Action=GetCallerIdentity") {
		return "", nil // "No permissions are required to perform this operation."
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return prefix + ":" + t[strings.LastIndex(t, ".")+1:], nil
	}
	if i := strings.Index(r.URL.Path, "/operation/"); i >= 0 && r.Header.Get("Smithy-Protocol") != "" {
		return prefix + ":" + r.URL.Path[i+len("/operation/"):], nil
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", err
		}
		if a := form.Get("Action"); a != "" {
			return prefix + ":" + a, nil
		}
	}
	q := r.URL.Query()
	for _, op := range restActions[service] {
		if op.method == r.Method && op.path.MatchString(r.URL.Path) && (op.query == "" || q.Has(op.query)) {
			return prefix + ":" + op.action, nil
		}
	}
	return "", fmt.Errorf("no documented operation for %s %s %s", service, r.Method, r.URL.RequestURI())
}
