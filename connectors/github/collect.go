package github

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// Collect implements connector.Connector. Per organisation it collects, in this order:
// the organisation settings and owners (sequentially: a 401 on the first call means the
// credentials are bad for everything, and owners are needed to judge repository admins),
// then concurrently the other organisation settings, the repositories as their listing
// pages arrive, and the organisation's open security alerts. Last it records the
// remaining API quota (artefact github.rate_limit, and the log).
func (c *Connector) Collect(ctx context.Context, emit func(evidence.Artefact) error) error {
	col, err := c.newCollector()
	if err != nil {
		return err
	}
	if _, err := col.tokens.Token(ctx); err != nil {
		return fmt.Errorf("github: could not authenticate: %w", err)
	}
	for _, org := range c.cfg.Orgs {
		if err := col.collectOrg(ctx, org, emit); err != nil {
			return err
		}
	}
	return col.emitRateLimit(ctx, emit)
}

func (col *collector) collectOrg(ctx context.Context, org string, emit func(evidence.Artefact) error) error {
	settings, err := col.orgSettings(ctx, org)
	if err != nil && httpStatus(err) == http.StatusUnauthorized {
		return fmt.Errorf("github: the credentials were rejected (organisation %s): %w", org, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := emit(settings); err != nil {
		return err
	}
	owners, ownersArt := col.owners(ctx, org)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := emit(ownersArt); err != nil {
		return err
	}
	return ordered(ctx, 2*col.cfg.Concurrency, emit, func(ctx context.Context, submit func(task) bool) {
		for _, t := range col.orgTasks(org) {
			if !submit(t) {
				return
			}
		}
		scope, ok := col.listRepos(ctx, org, owners, submit)
		if !ok {
			return
		}
		for _, t := range col.alertTasks(org, scope) {
			if !submit(t) {
				return
			}
		}
	})
}

// orgTasks are the organisation-level collections that need nothing but the org name.
func (col *collector) orgTasks(org string) []task {
	s := orgSubject(org)
	ts := []task{
		{kindMembersWithout2FA, s, func(ctx context.Context) []evidence.Artefact { return one(col.membersWithout2FA(ctx, org)) }},
		{kindOutsideCollabs, s, func(ctx context.Context) []evidence.Artefact { return one(col.outsideCollaborators(ctx, org)) }},
		{kindActionsPermissions, s, func(ctx context.Context) []evidence.Artefact { return one(col.actionsPermissions(ctx, org)) }},
		{kindWorkflowPermissions, s, func(ctx context.Context) []evidence.Artefact { return one(col.workflowPermissions(ctx, org)) }},
		{kindWebhooks, s, func(ctx context.Context) []evidence.Artefact { return one(col.webhooks(ctx, org)) }},
		{kindMembersInsecure2FA, s, func(ctx context.Context) []evidence.Artefact { return one(col.membersInsecure2FA(ctx, org)) }},
	}
	if *col.cfg.AuditLog {
		ts = append(ts, task{kindAuditLog, s, func(ctx context.Context) []evidence.Artefact { return one(col.auditLog(ctx, org)) }})
	}
	return ts
}

func one(a evidence.Artefact) []evidence.Artefact { return []evidence.Artefact{a} }

// listPages follows a page-numbered listing (Link header, rel="next") to its end, recording
// the exchanges. It stops with an error on a repeated page or more than Limits.MaxPages.
func listPages[T any](ctx context.Context, col *collector, fetch func(ctx context.Context, page int) ([]T, *gh.Response, error)) ([]T, []evidence.Exchange, error) {
	ctx, rec := connector.Record(ctx)
	guard := connector.NewPageGuard(col.limits)
	var all []T
	page := 0
	for {
		if err := guard.Next(strconv.Itoa(page)); err != nil {
			return nil, rec.Exchanges(), err
		}
		items, resp, err := fetch(ctx, page)
		if err != nil {
			return nil, rec.Exchanges(), err
		}
		all = append(all, items...)
		if resp.NextPage == 0 {
			return all, rec.Exchanges(), nil
		}
		page = resp.NextPage
	}
}

// listCursor follows a cursor listing (Link header with after=..., as the Dependabot and
// secret scanning alert listings use) to its end.
func listCursor[T any](ctx context.Context, col *collector, fetch func(ctx context.Context, after string) ([]T, *gh.Response, error)) ([]T, []evidence.Exchange, error) {
	ctx, rec := connector.Record(ctx)
	guard := connector.NewPageGuard(col.limits)
	var all []T
	after := ""
	for {
		if err := guard.Next(after); err != nil {
			return nil, rec.Exchanges(), err
		}
		items, resp, err := fetch(ctx, after)
		if err != nil {
			return nil, rec.Exchanges(), err
		}
		all = append(all, items...)
		if resp.After == "" {
			return all, rec.Exchanges(), nil
		}
		after = resp.After
	}
}
