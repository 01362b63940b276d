package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// targetAccount is one account to collect from, with credentials for it.
type targetAccount struct {
	ID   string
	Name string
	cfg  aws.Config // home region, the account's credentials

	// The account's Block Public Access settings, asked once (see publicAccessBlock).
	pabOnce      sync.Once
	pab          accountPublicAccessBlockDoc
	pabExchanges []evidence.Exchange
	pabErr       error

	bucketsMu sync.Mutex
	buckets   map[string]*bucketAccess // bucket name → its access settings, asked once
}

// target is one account and, for regional areas, one region.
type target struct {
	c       *Connector
	account *targetAccount
	region  string   // "" for account-scoped areas
	regions []string // the account's enabled regions (for account areas spanning regions)
}

func (t *target) subject() string {
	if t.region == "" {
		return "aws:" + t.account.ID
	}
	return "aws:" + t.account.ID + ":" + t.region
}

func (t *target) clients() clients {
	cfg := t.account.cfg.Copy()
	if t.region != "" {
		cfg.Region = t.region
	}
	return clients{c: t.c, cfg: cfg}
}

func (t *target) pages() *connector.PageGuard { return connector.NewPageGuard(t.c.opts.Limits) }

// ok returns the artefact of kind with doc as its document, or a failed gap if the
// document cannot be encoded.
func (t *target) ok(kind string, doc any, exchanges []evidence.Exchange) evidence.Artefact {
	b, err := marshalDocument(doc)
	if err != nil {
		return t.gap(kind, err)
	}
	return t.document(kind, b, exchanges)
}

// document is the artefact of kind with an encoded document.
func (t *target) document(kind string, b []byte, exchanges []evidence.Exchange) evidence.Artefact {
	return evidence.Artefact{Kind: kind, Subject: t.subject(), Status: evidence.StatusOK, Document: b, Exchanges: exchanges}
}

// gap returns the gap artefact of kind for err.
func (t *target) gap(kind string, err error) evidence.Artefact {
	return connector.NewGap(kind, t.subject(), classify(err), err)
}

// result returns one artefact per kind: doc when err is nil, else gaps. Gaps keep the
// exchanges too: the error responses are the provenance of the gap.
func (t *target) result(kinds []string, doc any, exchanges []evidence.Exchange, err error) []evidence.Artefact {
	out := make([]evidence.Artefact, 0, len(kinds))
	if err != nil {
		for _, k := range kinds {
			g := t.gap(k, err)
			g.Exchanges = exchanges
			out = append(out, g)
		}
		return out
	}
	// One document for all kinds: encoded once.
	b, merr := marshalDocument(doc)
	for _, k := range kinds {
		if merr != nil {
			out = append(out, t.gap(k, merr))
		} else {
			out = append(out, t.document(k, b, exchanges))
		}
	}
	return out
}

// Collect implements connector.Connector: it resolves the target accounts, then runs every
// area of every account and region on a bounded pool (Settings.Concurrency workers, with
// per-service limits per account and region), funnelling the artefacts to emit in this
// goroutine.
func (c *Connector) Collect(ctx context.Context, emit func(evidence.Artefact) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	base, err := c.baseConfig(ctx)
	if err != nil {
		return err
	}
	accounts, err := c.targets(ctx, base)
	if err != nil {
		return err
	}
	c.opts.Logger.Info("collecting from AWS accounts", "accounts", len(accounts), "concurrency", c.st.Concurrency)
	results := make(chan []evidence.Artefact, 64)
	sched := newScheduler()
	var credFailures atomic.Int32
	var lastCredErr atomic.Value
	for _, a := range accounts {
		sched.submit(&task{limitKey: "prepare", run: func(ctx context.Context) {
			arts, err := c.prepare(ctx, sched, a, results)
			if err != nil {
				credFailures.Add(1)
				lastCredErr.Store(err)
			}
			if len(arts) > 0 {
				results <- arts
			}
		}})
	}
	done := make(chan struct{})
	go func() {
		sched.run(ctx, c.st.Concurrency)
		close(results)
		close(done)
	}()
	var emitErr error
	for arts := range results {
		for _, a := range arts {
			if emitErr != nil || ctx.Err() != nil {
				break
			}
			if err := emit(a); err != nil {
				emitErr = fmt.Errorf("could not emit %s for %s: %w", a.Kind, a.Subject, err)
				cancel()
			}
		}
	}
	<-done
	if emitErr != nil {
		return emitErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if n := int(credFailures.Load()); n > 0 && n == len(accounts) {
		return fmt.Errorf("could not get credentials for any of %d accounts: %w", n, lastCredErr.Load().(error))
	}
	return nil
}

// targets resolves the accounts to collect from.
func (c *Connector) targets(ctx context.Context, base aws.Config) ([]*targetAccount, error) {
	switch {
	case len(c.st.Accounts) > 0:
		out := make([]*targetAccount, 0, len(c.st.Accounts))
		for _, a := range c.st.Accounts {
			cfg := base
			if a.RoleARN != "" {
				cfg = c.assumeRole(base, a.RoleARN, c.externalIDs[a.ID])
			}
			out = append(out, &targetAccount{ID: a.ID, Name: a.Name, cfg: cfg})
		}
		return out, nil
	case c.st.Organizations != nil:
		return c.discover(ctx, base)
	default:
		out, err := clients{c: c, cfg: base}.sts().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return nil, fmt.Errorf("could not identify the account of the base credentials: %w", err)
		}
		return []*targetAccount{{ID: deref(out.Account), cfg: base}}, nil
	}
}

// discover lists the organisation's accounts (with the base credentials, which must be
// the management account's or a delegated administrator's) and applies the filters.
func (c *Connector) discover(ctx context.Context, base aws.Config) ([]*targetAccount, error) {
	o := c.st.Organizations
	client := clients{c: c, cfg: base}.organizations()
	p := organizations.NewListAccountsPaginator(client, &organizations.ListAccountsInput{})
	guard := connector.NewPageGuard(c.opts.Limits)
	var token string
	var accounts []orgtypes.Account
	for p.HasMorePages() {
		if err := guard.Next(token); err != nil {
			return nil, fmt.Errorf("could not list the organisation's accounts: %w", err)
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("could not list the organisation's accounts: %w", err)
		}
		accounts = append(accounts, page.Accounts...)
		token = deref(page.NextToken)
	}
	slices.SortFunc(accounts, func(a, b orgtypes.Account) int { return compare(deref(a.Id), deref(b.Id)) })
	var out []*targetAccount
	for _, a := range accounts {
		id, name := deref(a.Id), deref(a.Name)
		if a.State != orgtypes.AccountStateActive && a.Status != orgtypes.AccountStatusActive && !o.IncludeSuspended {
			continue
		}
		if !o.matchAccount(id, name) {
			continue
		}
		partition := "aws"
		if arn := deref(a.Arn); len(arn) > 4 {
			if p := arnPartition(arn); p != "" {
				partition = p
			}
		}
		role := fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, id, o.RoleName)
		out = append(out, &targetAccount{ID: id, Name: name, cfg: c.assumeRole(base, role, c.externalIDs["*"])})
	}
	if len(out) == 0 {
		return nil, errors.New("organizations discovery: no account matches the include/exclude filters")
	}
	return out, nil
}

// prepare gets the account's credentials and its enabled regions, then submits the
// account's areas. It returns the gaps it could already decide and the credential error.
func (c *Connector) prepare(ctx context.Context, sched *scheduler, a *targetAccount, results chan<- []evidence.Artefact) ([]evidence.Artefact, error) {
	acct := &target{c: c, account: a}
	if _, err := a.cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		err = fmt.Errorf("could not get credentials for account %s: %w", a.ID, err)
		c.opts.Logger.Warn("no credentials for account; its evidence is recorded as gaps", "account", a.ID, "error", err)
		var out []evidence.Artefact
		for _, k := range c.enabledKinds() {
			out = append(out, acct.gap(k.Name, err))
		}
		return out, err
	}
	regions, disabled, err := c.regions(ctx, acct)
	var gaps []evidence.Artefact
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		// Without the account's regions, regional evidence is missing as a whole: one gap
		// per regional kind for the account.
		c.opts.Logger.Warn("could not list regions; regional evidence is recorded as gaps", "account", a.ID, "error", err)
		for _, k := range c.enabledKinds() {
			if k.Scope == scopeRegion {
				gaps = append(gaps, acct.gap(k.Name, err))
			}
		}
	}
	for _, r := range disabled {
		rt := &target{c: c, account: a, region: r}
		gerr := connector.AsGap(evidence.StatusNotEnabled, fmt.Errorf("region %s is not enabled for account %s", r, a.ID))
		for _, k := range c.enabledKinds() {
			if k.Scope == scopeRegion {
				gaps = append(gaps, rt.gap(k.Name, gerr))
			}
		}
	}
	for _, ar := range areas {
		kinds := c.wanted(ar.kinds)
		if len(kinds) == 0 {
			continue
		}
		ar := ar
		if ar.scope == scopeAccount {
			t := &target{c: c, account: a, regions: regions}
			c.submitArea(sched, t, ar, kinds, results)
			continue
		}
		for _, r := range regions {
			t := &target{c: c, account: a, region: r, regions: regions}
			c.submitArea(sched, t, ar, kinds, results)
		}
	}
	return gaps, nil
}

func (c *Connector) submitArea(sched *scheduler, t *target, ar *area, kinds []string, results chan<- []evidence.Artefact) {
	svc := ar.service
	sched.submit(&task{
		limitKey: svc + "/" + t.account.ID + "/" + t.region,
		limit:    c.st.serviceLimit(svc),
		run: func(ctx context.Context) {
			arts := ar.run(ctx, t, kinds)
			if ctx.Err() != nil {
				return
			}
			results <- arts
		},
	})
}

// regions returns the regions to collect in the account and the configured regions that
// are not enabled for it (opt-in regions), from ec2:DescribeRegions in the home region.
func (c *Connector) regions(ctx context.Context, t *target) (enabled, disabled []string, err error) {
	out, err := t.clients().ec2().DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		if !c.st.AllRegions {
			// The configured list still tells what to collect; opt-in regions then show up
			// as failed calls in their own gaps.
			c.opts.Logger.Warn("could not check which regions are enabled; collecting the configured ones", "account", t.account.ID, "error", err)
			return append([]string(nil), c.st.Regions...), nil, nil
		}
		return nil, nil, fmt.Errorf("could not list the regions of account %s: %w", t.account.ID, err)
	}
	status := map[string]string{}
	for _, r := range out.Regions {
		status[deref(r.RegionName)] = deref(r.OptInStatus)
	}
	isEnabled := func(r string) bool {
		s, ok := status[r]
		return ok && (s == "opt-in-not-required" || s == "opted-in")
	}
	if c.st.AllRegions {
		for r := range status {
			if isEnabled(r) {
				enabled = append(enabled, r)
			}
		}
		slices.Sort(enabled)
		return enabled, nil, nil
	}
	for _, r := range c.st.Regions {
		if isEnabled(r) {
			enabled = append(enabled, r)
		} else {
			disabled = append(disabled, r)
		}
	}
	return enabled, disabled, nil
}

// enabledKinds returns the kinds not excluded by the settings.
func (c *Connector) enabledKinds() []kindDef {
	var out []kindDef
	for _, k := range kinds {
		if !slices.Contains(c.st.ExcludeKinds, k.Name) {
			out = append(out, k)
		}
	}
	return out
}

// wanted filters an area's kinds by the settings.
func (c *Connector) wanted(ks []string) []string {
	var out []string
	for _, k := range ks {
		if !slices.Contains(c.st.ExcludeKinds, k) {
			out = append(out, k)
		}
	}
	return out
}

func arnPartition(arn string) string {
	// arn:<partition>:...
	if len(arn) < 5 || arn[:4] != "arn:" {
		return ""
	}
	rest := arn[4:]
	for i := 0; i < len(rest); i++ {
		if rest[i] == ':' {
			return rest[:i]
		}
	}
	return ""
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
