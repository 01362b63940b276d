package msgraph

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// prefetch reads what several kinds (and workers) share: the conditional access policies
// and the break-glass accounts. Failures are kept and become the gaps of those kinds.
func (r *run) prefetch(ctx context.Context) {
	cctx, rec := connector.Record(ctx)
	r.ca.policies, r.ca.err = r.c.listSorted(cctx, func() (*absRequest, error) {
		return r.c.graph.Identity().ConditionalAccess().Policies().ToGetRequestInformation(cctx, nil)
	})
	r.ca.exchanges = rec.Exchanges()

	bctx, brec := connector.Record(ctx)
	r.breakGlass.err = r.resolveBreakGlass(bctx)
	r.breakGlass.exchanges = brec.Exchanges()
}

// userSelect are the properties read for individual accounts (privileged and break-glass).
var userSelect = []string{"id", "userPrincipalName", "displayName", "userType", "accountEnabled", "onPremisesSyncEnabled"}

// resolveBreakGlass finds the emergency-access accounts: the configured ones (UPN or id),
// else those excluded from every enabled conditional access policy.
func (r *run) resolveBreakGlass(ctx context.Context) error {
	keys := r.cfg.BreakGlassAccounts
	r.breakGlass.configured = len(keys) > 0
	if !r.breakGlass.configured {
		if r.ca.err != nil {
			return r.ca.err
		}
		var common map[string]bool
		for _, p := range r.ca.policies {
			if str(p["state"]) != "enabled" {
				continue
			}
			ex := map[string]bool{}
			for _, id := range strList(dig(p, "conditions", "users", "excludeUsers")) {
				if common == nil || common[id] {
					ex[id] = true
				}
			}
			common = ex
		}
		for id := range common {
			keys = append(keys, id)
		}
		sort.Strings(keys)
	}
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

func conditionalAccessWorker(ctx context.Context, r *run, send func(evidence.Artefact) error) error {
	caExchanges := func() []evidence.Exchange { return r.ca.exchanges }
	caPolicies := func() ([]map[string]any, error) { return r.ca.policies, r.ca.err }
	var skus []map[string]any
	var skuErr error
	var skuExchanges []evidence.Exchange
	withSkus := func(f func() []evidence.Exchange) func() []evidence.Exchange {
		return func() []evidence.Exchange { return append(append([]evidence.Exchange(nil), f()...), skuExchanges...) }
	}
	// Conditional access is an Entra ID P1 feature: without it the tenant can have no
	// enforced policies, and judging their absence would fail controls for a licence gap.
	// If the SKUs cannot be read, the policies are judged as they are.
	needsP1 := func() error {
		if skuErr != nil || skus == nil {
			return nil
		}
		if plans := activePlans(skus); !plans["AAD_PREMIUM"] && !plans["AAD_PREMIUM_P2"] {
			return notLicensed("the tenant has no active Entra ID P1 or P2 service plan (AAD_PREMIUM in subscribedSkus); conditional access needs it, security defaults are the baseline without it")
		}
		return nil
	}
	areas := []area{
		{kind: KindLicences, op: "list subscribed SKUs", build: func(ctx context.Context) (any, error) {
			rec := connector.RecorderFrom(ctx)
			defer func() { skuExchanges = rec.Exchanges() }()
			ri, err := r.c.graph.SubscribedSkus().ToGetRequestInformation(ctx, nil)
			if err != nil {
				return nil, err
			}
			if skus, skuErr = r.c.listAll(ctx, ri); skuErr != nil {
				return nil, skuErr
			}
			out := make([]map[string]any, 0, len(skus))
			for _, s := range skus {
				var plans []map[string]any
				for _, p := range mapList(s["servicePlans"]) {
					plans = append(plans, map[string]any{"servicePlanName": p["servicePlanName"], "servicePlanId": p["servicePlanId"], "provisioningStatus": p["provisioningStatus"]})
				}
				out = append(out, map[string]any{"skuId": s["skuId"], "skuPartNumber": s["skuPartNumber"], "capabilityStatus": s["capabilityStatus"],
					"consumedUnits": s["consumedUnits"], "prepaidUnits": s["prepaidUnits"], "servicePlans": plans})
			}
			return map[string]any{"skus": out, "servicePlans": activePlans(skus)}, nil
		}},
		{kind: KindSecurityDefaults, op: "read the security defaults policy", extra: caExchanges, build: func(ctx context.Context) (any, error) {
			ri, err := r.c.graph.Policies().IdentitySecurityDefaultsEnforcementPolicy().ToGetRequestInformation(ctx, nil)
			if err != nil {
				return nil, err
			}
			pol, err := r.c.getObject(ctx, ri)
			if err != nil {
				return nil, err
			}
			policies, err := caPolicies()
			if err != nil {
				return nil, err
			}
			return map[string]any{"securityDefaults": pol, "conditionalAccessPolicies": policies}, nil
		}},
		{kind: KindConditionalAccess, op: "list conditional access policies", extra: withSkus(caExchanges), build: func(ctx context.Context) (any, error) {
			policies, err := caPolicies()
			if err != nil {
				return nil, err
			}
			if err := needsP1(); err != nil {
				return nil, err
			}
			return map[string]any{"policies": policies, "breakGlassAccounts": orEmpty(r.breakGlass.ids)}, nil
		}},
		{kind: KindRiskPolicies, op: "derive risk-based conditional access policies",
			extra: withSkus(caExchanges),
			build: func(ctx context.Context) (any, error) {
				policies, err := caPolicies()
				if err != nil {
					return nil, err
				}
				if skuErr != nil {
					return nil, skuErr
				}
				// Risk levels are Entra ID Identity Protection, an Entra ID P2 feature; without
				// P2 the conditions are ignored, so the absence of such policies says nothing.
				if !activePlans(skus)["AAD_PREMIUM_P2"] {
					return nil, notLicensed("the tenant has no active Entra ID P2 service plan (AAD_PREMIUM_P2 in subscribedSkus); risk-based conditional access needs it")
				}
				risk := []map[string]any{}
				for _, p := range policies {
					if len(strList(dig(p, "conditions", "userRiskLevels"))) > 0 || len(strList(dig(p, "conditions", "signInRiskLevels"))) > 0 {
						risk = append(risk, p)
					}
				}
				return map[string]any{"policies": risk, "breakGlassAccounts": orEmpty(r.breakGlass.ids)}, nil
			}},
		{kind: KindBreakGlass, op: "read the break-glass accounts",
			extra: withSkus(func() []evidence.Exchange {
				return append(append([]evidence.Exchange(nil), r.ca.exchanges...), r.breakGlass.exchanges...)
			}),
			build: func(ctx context.Context) (any, error) {
				if err := needsP1(); err != nil {
					return nil, err
				}
				return r.breakGlassDocument(ctx)
			}},
	}
	for _, a := range areas {
		if err := r.collect(ctx, a, send); err != nil {
			return err
		}
	}
	return nil
}

// breakGlassDocument lists each emergency-access account with the enabled policies it is
// excluded from and its FIDO2 security keys.
func (r *run) breakGlassDocument(ctx context.Context) (any, error) {
	if r.breakGlass.err != nil {
		return nil, r.breakGlass.err
	}
	if r.ca.err != nil {
		return nil, r.ca.err
	}
	enabled := 0
	for _, p := range r.ca.policies {
		if str(p["state"]) == "enabled" {
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
		excluded := []string{}
		fido2 := 0
		if id != "" {
			for _, p := range r.ca.policies {
				if str(p["state"]) == "enabled" && contains(strList(dig(p, "conditions", "users", "excludeUsers")), id) {
					excluded = append(excluded, str(p["id"]))
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
		a["excludedFromPolicies"] = excluded
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

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
