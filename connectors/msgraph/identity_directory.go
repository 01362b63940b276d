package msgraph

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/domains"
	"github.com/microsoftgraph/msgraph-sdk-go/policies"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/exhibit-dev/exhibit/evidence"
)

func directoryWorker(ctx context.Context, r *run, send func(evidence.Artefact) error) error {
	f := r.directoryFacts(ctx)
	factReads := func() []evidence.Exchange { return f.exchanges }
	object := func(ri func(ctx context.Context) (*absRequest, error)) func(ctx context.Context) (any, error) {
		return func(ctx context.Context) (any, error) {
			req, err := ri(ctx)
			if err != nil {
				return nil, err
			}
			return r.c.getObject(ctx, req)
		}
	}
	for _, a := range []area{
		{kind: KindAuthMethodsPolicy, op: "read the authentication methods policy", build: object(func(ctx context.Context) (*absRequest, error) {
			return r.c.graph.Policies().AuthenticationMethodsPolicy().ToGetRequestInformation(ctx, nil)
		})},
		{kind: KindAuthorizationPolicy, op: "read the authorization policy", build: object(func(ctx context.Context) (*absRequest, error) {
			return r.c.graph.Policies().AuthorizationPolicy().ToGetRequestInformation(ctx, nil)
		})},
		{kind: KindAdminConsentPolicy, op: "read the admin consent request policy", build: object(func(ctx context.Context) (*absRequest, error) {
			return r.c.graph.Policies().AdminConsentRequestPolicy().ToGetRequestInformation(ctx, nil)
		})},
		{kind: KindPasswordPolicy, op: "read domains and password rule settings", build: r.passwordPolicy},
		{kind: KindRoleAssignments, op: "list directory role assignments", extra: factReads, build: func(ctx context.Context) (any, error) {
			return r.roleAssignments(ctx, f)
		}},
		{kind: KindPIMAssignments, op: "list PIM role schedules", build: r.pimAssignments},
		{kind: KindPIMPolicies, op: "list PIM role management policy assignments", build: r.pimPolicies},
		{kind: KindAccessReviews, op: "list access review definitions", build: func(ctx context.Context) (any, error) {
			defs, err := r.c.listSorted(ctx, func() (*absRequest, error) {
				return r.c.graph.IdentityGovernance().AccessReviews().Definitions().ToGetRequestInformation(ctx, nil)
			})
			if err != nil {
				return nil, err
			}
			return map[string]any{"definitions": defs}, nil
		}},
		{kind: KindSignInActivity, op: "list users with their sign-in activity", build: r.signInActivity},
	} {
		if err := r.collect(ctx, a, send); err != nil {
			return err
		}
	}
	return nil
}

// passwordRuleTemplate is the directory setting template "Password Rule Settings".
const passwordRuleTemplate = "5cf42378-d67d-4f36-ba46-e8b86229381d"

// passwordRuleDefaults are Entra ID's values when no "Password Rule Settings" object exists
// (smart lockout: 10 failures, 60 s; the global banned password list always applies, a
// custom list does not exist).
var passwordRuleDefaults = map[string]string{
	"LockoutThreshold": "10", "LockoutDurationInSeconds": "60", "EnableBannedPasswordCheck": "True",
	"BannedPasswordList": "", "EnableBannedPasswordCheckOnPremises": "False", "BannedPasswordCheckOnPremisesMode": "Audit",
}

func (r *run) passwordPolicy(ctx context.Context) (any, error) {
	doms, err := r.c.listSorted(ctx, func() (*absRequest, error) {
		return r.c.graph.Domains().ToGetRequestInformation(ctx, &domains.DomainsRequestBuilderGetRequestConfiguration{
			QueryParameters: &domains.DomainsRequestBuilderGetQueryParameters{Select: []string{"id", "authenticationType", "isDefault", "isInitial", "isVerified", "passwordValidityPeriodInDays", "passwordNotificationWindowInDays"}}})
	})
	if err != nil {
		return nil, err
	}
	ri, err := r.c.graph.GroupSettings().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return nil, err
	}
	settings, err := r.c.listAll(ctx, ri)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for k, v := range passwordRuleDefaults {
		values[k] = v
	}
	configured := false
	for _, s := range settings {
		if !strings.EqualFold(str(s["templateId"]), passwordRuleTemplate) {
			continue
		}
		configured = true
		for _, v := range mapList(s["values"]) {
			values[str(v["name"])] = str(v["value"])
		}
	}
	// The banned password list itself stays out of the document: the count is the evidence.
	banned := 0
	for _, w := range strings.FieldsFunc(values["BannedPasswordList"], func(r rune) bool { return r == '\t' || r == ',' || r == '\n' }) {
		if strings.TrimSpace(w) != "" {
			banned++
		}
	}
	rules := map[string]any{
		"configured":                          configured,
		"lockoutThreshold":                    atoi(values["LockoutThreshold"]),
		"lockoutDurationInSeconds":            atoi(values["LockoutDurationInSeconds"]),
		"enableBannedPasswordCheck":           strings.EqualFold(values["EnableBannedPasswordCheck"], "true"),
		"bannedPasswordCount":                 banned,
		"enableBannedPasswordCheckOnPremises": strings.EqualFold(values["EnableBannedPasswordCheckOnPremises"], "true"),
		"bannedPasswordCheckOnPremisesMode":   values["BannedPasswordCheckOnPremisesMode"],
	}
	return map[string]any{"domains": doms, "passwordRuleSettings": rules}, nil
}

func atoi(s string) any {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return nil
	}
	return n
}

// roleAssignments lists the active directory role assignments with their principals
// (users, role-assignable groups, service principals), and the people who hold each role:
// users assigned directly and the transitive members of assigned groups, each person once
// per role, so that counts count people rather than assignments.
func (r *run) roleAssignments(ctx context.Context, f *facts) (any, error) {
	if f.err != nil {
		return nil, f.err
	}
	defs, err := r.c.listSorted(ctx, func() (*absRequest, error) {
		return r.c.graph.RoleManagement().Directory().RoleDefinitions().ToGetRequestInformation(ctx, &rolemanagement.DirectoryRoleDefinitionsRequestBuilderGetRequestConfiguration{
			QueryParameters: &rolemanagement.DirectoryRoleDefinitionsRequestBuilderGetQueryParameters{Select: []string{"id", "displayName", "templateId", "isBuiltIn"}}})
	})
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, d := range defs {
		names[str(d["id"])] = str(d["displayName"])
	}
	assignments := make([]map[string]any, 0, len(f.assignments))
	for _, a := range f.assignments {
		p, _ := a["principal"].(map[string]any)
		principal := map[string]any{"id": a["principalId"], "type": principalType(p), "displayName": p["displayName"]}
		switch principalType(p) {
		case "user":
			principal["userPrincipalName"], principal["onPremisesSyncEnabled"], principal["accountEnabled"] = p["userPrincipalName"], p["onPremisesSyncEnabled"], p["accountEnabled"]
		case "group":
			principal["userMembers"] = len(f.members[str(a["principalId"])])
		case "servicePrincipal":
			principal["appId"] = p["appId"]
		}
		assignments = append(assignments, map[string]any{"id": a["id"], "roleDefinitionId": a["roleDefinitionId"], "roleName": names[str(a["roleDefinitionId"])],
			"directoryScopeId": a["directoryScopeId"], "principalId": a["principalId"], "principal": principal})
	}
	people, sps := f.holders(names, false)
	if people == nil {
		people = []roleHolder{}
	}
	if sps == nil {
		sps = []map[string]any{}
	}
	return map[string]any{"roleDefinitions": defs, "assignments": assignments, "people": people, "servicePrincipals": sps,
		"breakGlassAccounts": orEmpty(r.breakGlass.ids)}, nil
}

func (r *run) pimAssignments(ctx context.Context) (any, error) {
	eligible, err := r.c.listSorted(ctx, func() (*absRequest, error) {
		return r.c.graph.RoleManagement().Directory().RoleEligibilitySchedules().ToGetRequestInformation(ctx, nil)
	})
	if err != nil {
		return nil, err
	}
	active, err := r.c.listSorted(ctx, func() (*absRequest, error) {
		return r.c.graph.RoleManagement().Directory().RoleAssignmentScheduleInstances().ToGetRequestInformation(ctx, nil)
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"eligibilitySchedules": eligible, "activeAssignments": active, "breakGlassAccounts": orEmpty(r.breakGlass.ids)}, nil
}

func (r *run) pimPolicies(ctx context.Context) (any, error) {
	filter := "scopeId eq '/' and scopeType eq 'DirectoryRole'"
	assignments, err := r.c.listSorted(ctx, func() (*absRequest, error) {
		return r.c.graph.Policies().RoleManagementPolicyAssignments().ToGetRequestInformation(ctx, &policies.RoleManagementPolicyAssignmentsRequestBuilderGetRequestConfiguration{
			QueryParameters: &policies.RoleManagementPolicyAssignmentsRequestBuilderGetQueryParameters{Filter: &filter, Expand: []string{"policy($expand=rules)"}}})
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"assignments": assignments}, nil
}

// userRow is the part of a user the stale-account rules need.
type userRow struct {
	ID                               string  `json:"id"`
	UserPrincipalName                *string `json:"userPrincipalName"`
	DisplayName                      *string `json:"displayName"`
	UserType                         *string `json:"userType"`
	AccountEnabled                   *bool   `json:"accountEnabled"`
	CreatedDateTime                  *string `json:"createdDateTime"`
	LastSignInDateTime               *string `json:"lastSignInDateTime"`
	LastNonInteractiveSignInDateTime *string `json:"lastNonInteractiveSignInDateTime"`
	LastSuccessfulSignInDateTime     *string `json:"lastSuccessfulSignInDateTime"`
	// LastActivityDateTime is the later of the interactive and non-interactive sign-ins.
	LastActivityDateTime *string `json:"lastActivityDateTime"`
}

var userListSelect = []string{"id", "userPrincipalName", "displayName", "userType", "accountEnabled", "createdDateTime", "signInActivity"}

// signInActivity streams all users with their last sign-in into the document.
func (r *run) signInActivity(ctx context.Context) (any, error) {
	top := usersWithSignInPageSize
	ri, err := r.c.graph.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userListSelect, Top: &top}})
	if err != nil {
		return nil, err
	}
	doc := newListDocument("users")
	err = r.c.list(withPersonalData(ctx), ri, func(items []json.RawMessage) error {
		for _, raw := range items {
			var in struct {
				userRow
				SignInActivity *struct {
					LastSignInDateTime               *string `json:"lastSignInDateTime"`
					LastNonInteractiveSignInDateTime *string `json:"lastNonInteractiveSignInDateTime"`
					LastSuccessfulSignInDateTime     *string `json:"lastSuccessfulSignInDateTime"`
				} `json:"signInActivity"`
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				return fmt.Errorf("could not decode a user: %w", err)
			}
			row := in.userRow
			if a := in.SignInActivity; a != nil {
				row.LastSignInDateTime, row.LastNonInteractiveSignInDateTime, row.LastSuccessfulSignInDateTime =
					a.LastSignInDateTime, a.LastNonInteractiveSignInDateTime, a.LastSuccessfulSignInDateTime
				row.LastActivityDateTime = later(a.LastSignInDateTime, a.LastNonInteractiveSignInDateTime)
			}
			if err := doc.add(row); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return doc.finish(nil)
}

// later returns the later of two RFC 3339 UTC times as Graph writes them (same layout, so
// they compare as strings), or the one that is set.
func later(a, b *string) *string {
	switch {
	case a == nil || *a == "":
		if b == nil || *b == "" {
			return nil
		}
		return b
	case b == nil || *b == "":
		return a
	case *b > *a:
		return b
	}
	return a
}

func sortByID(l []map[string]any) {
	sort.SliceStable(l, func(i, j int) bool { return str(l[i]["id"]) < str(l[j]["id"]) })
}
