// Package sim simulates the AWS APIs the aws connector calls, for a synthetic organisation
// of N accounts × M regions, deterministic for a seed, with good and deliberately bad
// configurations and fault injection through simkit. Every service is served on one base
// URL: requests are routed by the SigV4 credential scope (service, region), the access key
// (account), and X-Amz-Target / Action / method and path (operation), so the real SDK
// clients work with a single endpoint override.
package sim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

// Credentials of the management account's base identity. Any secret is accepted: the
// simulator routes on the access key id, it does not verify signatures.
const (
	AccessKeyID     = "AKIASIMULATOR0000001"
	SecretAccessKey = "sim-secret-access-key-not-a-secret"
)

// Demo environment variable names that DemoSettings refers to; DemoEnv gives their values.
const (
	EnvAccessKeyID     = "EXHIBIT_AWS_SIM_ACCESS_KEY_ID"
	EnvSecretAccessKey = "EXHIBIT_AWS_SIM_SECRET_ACCESS_KEY"
)

// RoleName is the read-only role the simulator lets callers assume in every account.
const RoleName = "ExhibitReadOnly"

// Options configure the simulated organisation.
type Options struct {
	// Accounts is the number of accounts; account 0 is the management account. Default 3.
	Accounts int
	// Regions enabled in every account. Default eu-central-1, eu-west-1. DescribeRegions
	// also lists me-south-1 as an opt-in region that is not enabled.
	Regions []string
	// Latency is added to every response (simkit).
	Latency time.Duration
	// Faults are injected by simkit; build them with Deny and Throttle.
	Faults []simkit.Fault
	// Seed varies resource ids; the same seed gives the same organisation.
	Seed uint64
	// Defects per account index: the misconfigurations of that account (see AllDefects).
	// A defect "name@region" applies only in that region. Nil means DemoDefects.
	Defects map[int][]string
	// PageSize is the page size of every listing (small, to exercise pagination). Default 2.
	PageSize int
	// Users, Buckets and the other counts size each account (and region). Defaults small.
	Users, Buckets, SecurityGroups, Volumes, Instances, Keys, LogGroups, Secrets int
	// ReportPolls is how many GenerateCredentialReport calls answer STARTED per account
	// before the report is COMPLETE.
	ReportPolls int
	// ExternalID, when set, must accompany every AssumeRole.
	ExternalID string
	// Now is the simulator's clock for ages of credentials and certificates; default
	// today 00:00 UTC, so documents are stable through a day.
	Now time.Time
}

// DemoDefects are the deliberate failures of the default organisation: production keeps
// its backup bucket on SSE-S3 instead of SSE-KMS, development has root access keys, SSH open to the world and no
// GuardDuty in eu-west-1.
var DemoDefects = map[int][]string{
	1: {"bucket_unencrypted"},
	2: {"root_access_keys", "sg_ssh_open", "no_guardduty@eu-west-1"},
}

// Cases are configurations the simulator models that are not defects but that rules must
// judge right; name them in Defects like a defect. org_trail_member: the account has no
// trail of its own and is covered by the management account's organisation trail.
var Cases = []string{"org_trail_member"}

// AllDefects lists every defect the simulator knows; each makes the rules of one evidence
// item fail.
var AllDefects = []string{
	"no_password_policy", "trail_bucket_exposed", "no_security_alarms", "root_no_mfa", "root_access_keys", "root_used", "user_no_mfa",
	"stale_access_key", "unused_credentials", "user_direct_policy", "admin_policy", "weak_trail",
	"no_account_public_access_block", "bucket_unencrypted", "bucket_no_tls_policy",
	"bucket_unversioned", "not_in_organization", "no_security_contact", "no_analyzer",
	"short_log_retention", "no_config_recorder", "no_guardduty", "no_securityhub",
	"ebs_unencrypted", "rds_unencrypted", "rds_no_backups", "no_backup_plan", "kms_no_rotation",
	"sg_ssh_open", "default_sg_open", "no_flow_logs", "inspector_disabled", "unpatched_instance",
	"imdsv1", "certificate_expiring", "elb_weak_tls", "macie_disabled", "secret_no_rotation",
	"bucket_public", "rds_public", "ebs_snapshot_public", "root_virtual_mfa", "elb_no_access_logs",
}

// Sim is a simulated AWS organisation.
type Sim struct {
	opts     Options
	accounts []*account
	byKey    map[string]*account
	harness  *simkit.Harness
	handler  http.Handler

	mu      sync.Mutex
	polls   map[string]int // account → GenerateCredentialReport calls
	actions map[string]int // IAM action → calls
	idSeed  uint64
}

type account struct {
	idx     int
	ID      string
	Name    string
	defects map[string]bool
}

// has reports whether the account has defect d (everywhere, or in region).
func (a *account) has(d, region string) bool {
	return a.defects[d] || (region != "" && a.defects[d+"@"+region])
}

// New returns a simulator for opts.
func New(opts Options) *Sim {
	if opts.Accounts <= 0 {
		opts.Accounts = 3
	}
	if len(opts.Regions) == 0 {
		opts.Regions = []string{"eu-central-1", "eu-west-1"}
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 2
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&opts.Users, 4)
	def(&opts.Buckets, 3)
	def(&opts.SecurityGroups, 3)
	def(&opts.Volumes, 3)
	def(&opts.Instances, 2)
	def(&opts.Keys, 2)
	def(&opts.LogGroups, 3)
	def(&opts.Secrets, 2)
	if opts.Now.IsZero() {
		opts.Now = time.Now().UTC().Truncate(24 * time.Hour)
	}
	if opts.Defects == nil {
		opts.Defects = DemoDefects
	}
	s := &Sim{opts: opts, byKey: map[string]*account{}, polls: map[string]int{}, actions: map[string]int{}}
	s.idSeed = rand.New(rand.NewPCG(opts.Seed, 0x5eed)).Uint64()
	for i := 0; i < opts.Accounts; i++ {
		a := &account{idx: i, ID: fmt.Sprintf("%012d", 100000000000+i*11111), defects: map[string]bool{}}
		switch i {
		case 0:
			a.Name = "management"
		case 1:
			a.Name = "production"
		case 2:
			a.Name = "development"
		default:
			a.Name = fmt.Sprintf("workload-%02d", i)
		}
		for _, d := range opts.Defects[i] {
			a.defects[d] = true
		}
		s.accounts = append(s.accounts, a)
		s.byKey[sessionKey(a.ID)] = a
	}
	s.byKey[AccessKeyID] = s.accounts[0]
	s.harness = simkit.Wrap(http.HandlerFunc(s.serve), simkit.Options{Latency: opts.Latency, Faults: opts.Faults})
	s.handler = http.HandlerFunc(s.normalize)
	return s
}

// Handler returns the simulator wrapped in its simkit harness (latency, faults, counting).
func (s *Sim) Handler() http.Handler { return s.handler }

// Harness returns the simkit harness, for call counts and faults. Calls are keyed
// "POST /<account>/<region>/<service>/<Operation>?<canonical parameters>".
func (s *Sim) Harness() *simkit.Harness { return s.harness }

// AccountIDs returns the account ids, management account first.
func (s *Sim) AccountIDs() []string {
	out := make([]string, len(s.accounts))
	for i, a := range s.accounts {
		out[i] = a.ID
	}
	return out
}

// AccountName returns the name of an account id.
func (s *Sim) AccountName(id string) string {
	for _, a := range s.accounts {
		if a.ID == id {
			return a.Name
		}
	}
	return ""
}

// Now returns the simulator's clock.
func (s *Sim) Now() time.Time { return s.opts.Now }

// Actions returns the IAM actions the simulator authorised (one per API operation it
// served), sorted, so tests can check the declared permissions cover them.
func (s *Sim) Actions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.actions))
	for a := range s.actions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// DemoEnv returns the environment the settings of DemoSettings refer to.
func DemoEnv() map[string]string {
	return map[string]string{EnvAccessKeyID: AccessKeyID, EnvSecretAccessKey: SecretAccessKey}
}

// DemoSettings returns the YAML of the aws connector's `settings:` section that points the
// real connector at a simulator (default organisation) served at baseURL: static
// credentials from the DemoEnv variables, organizations discovery, both demo regions.
func DemoSettings(baseURL string) string {
	return strings.Join([]string{
		"credentials:",
		"  access_key_id_env: " + EnvAccessKeyID,
		"  secret_access_key_env: " + EnvSecretAccessKey,
		"organizations:",
		"  role_name: " + RoleName,
		"regions: [eu-central-1, eu-west-1]",
		"endpoint_url: " + baseURL,
		"",
	}, "\n")
}

func sessionKey(accountID string) string { return "ASIA" + accountID + "SIM" }

// id returns a deterministic resource id suffix for (kind, n) under the seed.
func (s *Sim) id(kind string, parts ...any) string {
	h := s.idSeed
	for _, c := range kind + fmt.Sprint(parts...) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return fmt.Sprintf("%016x", h)[:12]
}
