package msgraph

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/caeval"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// prefetch reads what several kinds (and workers) share: the subscribed SKUs (the
// licences, which also tell a missing permission from a missing licence), the conditional
// access policies and the configured break-glass accounts. Failures are kept and become the
// gaps of those kinds.
func (r *run) prefetch(ctx context.Context) {
	sctx, srec := connector.Record(ctx)
	r.skus.list, r.skus.err = r.c.listSorted(sctx, func() (*absRequest, error) {
		return r.c.graph.SubscribedSkus().ToGetRequestInformation(sctx, nil)
	})
	r.skus.exchanges = srec.Exchanges()

	cctx, rec := connector.Record(ctx)
	r.ca.policies, r.ca.err = r.c.listSorted(cctx, func() (*absRequest, error) {
		return r.c.graph.Identity().ConditionalAccess().Policies().ToGetRequestInformation(cctx, nil)
	})
	r.ca.exchanges = rec.Exchanges()

	bctx, brec := connector.Record(ctx)
	r.breakGlass.err = r.resolveBreakGlass(bctx)
	r.breakGlass.exchanges = brec.Exchanges()
}

// userSelect are the properties read for individual accounts (break-glass).
var userSelect = []string{"id", "userPrincipalName", "displayName", "userType", "accountEnabled", "onPremisesSyncEnabled"}

// resolveBreakGlass reads the configured emergency-access accounts (UPN or id). Only
// configured accounts are exempt from conditional access: an exclusion is never taken as
// a sign of an emergency account, or a policy excluding most users would exempt them all.
func (r *run) resolveBreakGlass(ctx context.Context) error {
	keys := r.cfg.BreakGlassAccounts
	r.breakGlass.configured = len(keys) > 0
	for _, key := range keys {
		u, err := r.getUser(ctx, key)
		if err != nil {
			return err
		}
		if u == nil {
			// A configured account that does not exist is worth a finding, not a gap.
			u = map[string]any{"id": nil, "configuredAs": key, "exists": false}
		} else {
			u["exists"] = true
			r.breakGlass.ids = append(r.breakGlass.ids, str(u["id"]))
		}
		r.breakGlass.accounts = append(r.breakGlass.accounts, u)
	}
	sort.Strings(r.breakGlass.ids)
	return nil
}

// getUser reads one user by object id or UPN; nil if it does not exist.
func (r *run) getUser(ctx context.Context, key string) (map[string]any, error) {
	ri, err := r.c.graph.Users().ByUserId(key).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userSelect}})
	if err != nil {
		return nil, err
	}
	u, err := r.c.getObject(withPersonalData(ctx), ri)
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.ResponseStatusCode == http.StatusNotFound {
		return nil, nil
	}
	return u, err
}

// hasP1 says whether the tenant has Entra ID P1 (or P2) by its SKUs; known is false when
// the SKUs could not be read.
func (r *run) hasP1() (has, known bool) {
	if r.skus.err != nil {
		return false, false
	}
	plans := activePlans(r.skus.list)
	return plans["AAD_PREMIUM"] || plans["AAD_PREMIUM_P2"], true
}

// The questions each document answers (caeval); README.md describes them.
var (
	caQuestions   = []caeval.Question{caeval.MFAAllUsers, caeval.LegacyAuthBlocked, caeval.PhishingResistantAdmins, caeval.CompliantDevice, caeval.DeviceCodeFlowBlocked}
	riskQuestions = []caeval.Question{caeval.HighUserRisk, caeval.HighSignInRisk}
)

func conditionalAccessWorker(ctx context.Context, r *run, send func(evidence.Artefact) error) error {
	f := r.directoryFacts(ctx)
	// The named locations and authentication strengths the policies refer to, read once
	// for the documents that judge the policies.
	var (
		refs struct {
			locations, strengths []map[string]any
			exchanges            []evidence.Exchange
			err                  error
		}
	)
	{
		rctx, rec := connector.Record(ctx)
		refs.locations, refs.err = r.c.listSorted(rctx, func() (*absRequest, error) {
			return r.c.graph.Identity().ConditionalAccess().NamedLocations().ToGetRequestInformation(rctx, nil)
		})
		if refs.err == nil {
			refs.strengths, refs.err = r.c.listSorted(rctx, func() (*absRequest, error) {
				return r.c.graph.Policies().AuthenticationStrengthPolicies().ToGetRequestInformation(rctx, nil)
			})
		}
		refs.exchanges = rec.Exchanges()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	join := func(parts ...[]evidence.Exchange) func() []evidence.Exchange {
		return func() []evidence.Exchange {
			var out []evidence.Exchange
			for _, p := range parts {
				out = append(out, p...)
			}
			return out
		}
	}
	// Conditional access is an Entra ID P1 feature: without it the tenant can have no
	// enforced policies, and judging their absence would fail controls for a licence gap.
	// If the SKUs cannot be read, the policies are judged as they are.
	needsP1 := func() error {
		if has, known := r.hasP1(); known && !has {
			return notLicensed("the tenant has no active Entra ID P1 or P2 service plan (AAD_PREMIUM in subscribedSkus); conditional access needs it, security defaults are the baseline without it")
		}
		return nil
	}
	// assess judges the policies; it needs every read above.
	assess := func(qs []caeval.Question) (map[string]caeval.Result, error) {
		if r.ca.err != nil {
			return nil, r.ca.err
		}
		if refs.err != nil {
			return nil, refs.err
		}
		if f.err != nil {
			return nil, f.err
		}
		if r.breakGlass.err != nil {
			return nil, r.breakGlass.err
		}
		t, err := r.tenant(f, refs.locations, refs.strengths)
		if err != nil {
			return nil, err
		}
		return caeval.Assess(t, qs...), nil
	}
	caReads := join(r.ca.exchanges, refs.exchanges, f.exchanges, r.breakGlass.exchanges, r.skus.exchanges)
	areas := []area{
		{kind: KindLicences, op: "list subscribed SKUs", extra: join(r.skus.exchanges), build: func(ctx context.Context) (any, error) {
			if r.skus.err != nil {
				return nil, r.skus.err
			}
			out := make([]map[string]any, 0, len(r.skus.list))
			for _, s := range r.skus.list {
				var plans []map[string]any
				for _, p := range mapList(s["servicePlans"]) {
					plans = append(plans, map[string]any{"servicePlanName": p["servicePlanName"], "servicePlanId": p["servicePlanId"], "provisioningStatus": p["provisioningStatus"]})
				}
				out = append(out, map[string]any{"skuId": s["skuId"], "skuPartNumber": s["skuPartNumber"], "capabilityStatus": s["capabilityStatus"],
					"consumedUnits": s["consumedUnits"], "prepaidUnits": s["prepaidUnits"], "servicePlans": plans})
			}
			return map[string]any{"skus": out, "servicePlans": activePlans(r.skus.list)}, nil
		}},
		{kind: KindSecurityDefaults, op: "read the security defaults policy", extra: caReads, build: func(ctx context.Context) (any, error) {
			ri, err := r.c.graph.Policies().IdentitySecurityDefaultsEnforcementPolicy().ToGetRequestInformation(ctx, nil)
			if err != nil {
				return nil, err
			}
			pol, err := r.c.getObject(ctx, ri)
			if err != nil {
				return nil, err
			}
			// Security defaults are the baseline of tenants without conditional access:
			// read them even when the policies cannot be read (no licence, no permission),
			// and say why the policies are missing.
			// A licence error is a fact of this document (no conditional access, so security
			// defaults are the only baseline); any other error leaves it unjudged: a gap.
			doc := map[string]any{"securityDefaults": pol, "conditionalAccessPolicies": []map[string]any{}, "assessment": nil, "conditionalAccessError": nil}
			res, err := assess([]caeval.Question{caeval.MFAAllUsers})
			if err != nil {
				st, e := r.classifyGap("judge the conditional access policies", err)
				if st != evidence.StatusNotLicensed {
					return nil, err
				}
				doc["conditionalAccessError"] = string(st) + ": " + e.Error()
				return doc, nil
			}
			doc["conditionalAccessPolicies"], doc["assessment"] = r.ca.policies, res
			return doc, nil
		}},
		{kind: KindConditionalAccess, op: "judge the conditional access policies", extra: caReads, build: func(ctx context.Context) (any, error) {
			if err := needsP1(); err != nil {
				return nil, err
			}
			res, err := assess(caQuestions)
			if err != nil {
				return nil, err
			}
			return map[string]any{"policies": r.ca.policies, "namedLocations": refs.locations, "authenticationStrengths": refs.strengths,
				"breakGlassAccounts": orEmpty(r.breakGlass.ids), "breakGlassConfigured": r.breakGlass.configured,
				"groups": groupSizes(f), "users": len(f.users), "assessment": res}, nil
		}},
		{kind: KindRiskPolicies, op: "judge the risk-based conditional access policies", extra: caReads,
			build: func(ctx context.Context) (any, error) {
				if r.skus.err != nil {
					return nil, r.skus.err
				}
				// Risk levels are Entra ID Identity Protection, an Entra ID P2 feature; without
				// P2 the conditions are ignored, so the absence of such policies says nothing.
				if !activePlans(r.skus.list)["AAD_PREMIUM_P2"] {
					return nil, notLicensed("the tenant has no active Entra ID P2 service plan (AAD_PREMIUM_P2 in subscribedSkus); risk-based conditional access needs it")
				}
				res, err := assess(riskQuestions)
				if err != nil {
					return nil, err
				}
				risk := []map[string]any{}
				for _, p := range r.ca.policies {
					if len(strList(dig(p, "conditions", "userRiskLevels"))) > 0 || len(strList(dig(p, "conditions", "signInRiskLevels"))) > 0 {
						risk = append(risk, p)
					}
				}
				return map[string]any{"policies": risk, "breakGlassAccounts": orEmpty(r.breakGlass.ids), "assessment": res}, nil
			}},
		{kind: KindBreakGlass, op: "read the break-glass accounts", extra: caReads,
			build: func(ctx context.Context) (any, error) {
				if err := needsP1(); err != nil {
					return nil, err
				}
				return r.breakGlassDocument(ctx, f)
			}},
	}
	for _, a := range areas {
		if err := r.collect(ctx, a, send); err != nil {
			return err
		}
	}
	return nil
}

// groupSizes lists the groups read with their number of user members.
func groupSizes(f *facts) []map[string]any {
	out := []map[string]any{}
	for _, id := range sortedKeysOf(f.members) {
		out = append(out, map[string]any{"id": id, "userMembers": len(f.members[id])})
	}
	return out
}

// breakGlassDocument lists each configured emergency-access account with the enabled
// policies it is excluded from (directly, through an excluded group or role), those that
// still apply to it (targetedBy: included and not excluded), and its FIDO2 security keys.
func (r *run) breakGlassDocument(ctx context.Context, f *facts) (any, error) {
	if r.breakGlass.err != nil {
		return nil, r.breakGlass.err
	}
	if r.ca.err != nil {
		return nil, r.ca.err
	}
	if f.err != nil {
		return nil, f.err
	}
	t, err := r.tenant(f, nil, nil)
	if err != nil {
		return nil, err
	}
	byID := map[string]caeval.User{}
	for _, u := range t.Users {
		byID[strings.ToLower(u.ID)] = u
	}
	enabled := 0
	for _, p := range t.Policies {
		if p.State == "enabled" {
			enabled++
		}
	}
	accounts := []map[string]any{}
	for _, acc := range r.breakGlass.accounts {
		a := map[string]any{}
		for k, v := range acc {
			a[k] = v
		}
		id := str(acc["id"])
		excluded, targeted := []string{}, []string{}
		fido2 := 0
		if id != "" {
			u, ok := byID[strings.ToLower(id)]
			if !ok {
				u = caeval.User{ID: id}
			}
			for _, p := range t.Policies {
				if p.State != "enabled" {
					continue
				}
				in, by := caeval.Targeting(p, u)
				if by != "" {
					excluded = append(excluded, p.ID)
				}
				if in {
					targeted = append(targeted, p.ID)
				}
			}
			ri, err := r.c.graph.Users().ByUserId(id).Authentication().Fido2Methods().ToGetRequestInformation(ctx, nil)
			if err != nil {
				return nil, err
			}
			// A key's display name is chosen by its owner ("Alice's YubiKey"): personal data.
			keys, err := r.c.listAll(withPersonalData(ctx), ri)
			if err != nil {
				return nil, err
			}
			fido2 = len(keys)
		}
		a["excludedFromPolicies"], a["targetedBy"] = excluded, targeted
		a["fido2Methods"] = fido2
		accounts = append(accounts, a)
	}
	return map[string]any{"configured": r.breakGlass.configured, "accounts": accounts, "enabledPolicies": enabled}, nil
}

// activePlans returns the service plans provisioned in any enabled SKU.
func activePlans(skus []map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, s := range skus {
		if st := str(s["capabilityStatus"]); st != "Enabled" && st != "Warning" {
			continue
		}
		for _, p := range mapList(s["servicePlans"]) {
			if str(p["provisioningStatus"]) == "Success" {
				out[str(p["servicePlanName"])] = true
			}
		}
	}
	return out
}

// Small helpers for decoded JSON.

func str(v any) string {
	s, _ := v.(string)
	return s
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func strList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func mapList(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
