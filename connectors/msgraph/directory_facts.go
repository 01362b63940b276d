package msgraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/caeval"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// facts are what conditional access and the role assignments are judged on, read once per
// collection and shared by both workers: every user, the transitive user members of the
// groups that policies or role assignments name, and who holds which directory role
// (directly, through a role-assignable group, or eligible through PIM).
type facts struct {
	once sync.Once
	// users by id, in id order.
	users []userInfo
	index map[string]int
	// members are the transitive user members of each group read, by group id.
	members map[string][]string
	// groupNames are the display names of groups that hold roles.
	groupNames map[string]string
	// assignments are the active role assignments with their principal expanded; eligible
	// the PIM eligibility schedules (nil without Entra ID P2).
	assignments []map[string]any
	eligible    []map[string]any
	exchanges   []evidence.Exchange
	err         error
}

// userInfo is a user as the judgements need it.
type userInfo struct {
	ID                    string  `json:"id"`
	UserPrincipalName     *string `json:"userPrincipalName"`
	DisplayName           *string `json:"displayName"`
	UserType              *string `json:"userType"`
	AccountEnabled        *bool   `json:"accountEnabled"`
	OnPremisesSyncEnabled *bool   `json:"onPremisesSyncEnabled"`
}

var factsUserSelect = []string{"id", "userPrincipalName", "displayName", "userType", "accountEnabled", "onPremisesSyncEnabled"}

// directoryFacts reads the facts the first time a worker asks and hands every caller the
// same result. Workers call it before their areas, outside any area's recording, so the
// exchanges are attached to the artefacts that use them and to no other.
func (r *run) directoryFacts(ctx context.Context) *facts {
	f := &r.facts
	f.once.Do(func() {
		fctx, rec := connector.Record(ctx)
		f.err = r.readFacts(fctx)
		f.exchanges = rec.Exchanges()
	})
	return f
}

func (r *run) readFacts(ctx context.Context) error {
	f := &r.facts
	top := pageSize
	ri, err := r.c.graph.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: factsUserSelect, Top: &top}})
	if err != nil {
		return err
	}
	err = r.c.list(withPersonalData(ctx), ri, func(items []json.RawMessage) error {
		for _, raw := range items {
			var u userInfo
			if err := json.Unmarshal(raw, &u); err != nil {
				return fmt.Errorf("could not decode a user: %w", err)
			}
			f.users = append(f.users, u)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("could not list users: %w", err)
	}
	sort.Slice(f.users, func(i, j int) bool { return f.users[i].ID < f.users[j].ID })
	f.index = make(map[string]int, len(f.users))
	for i, u := range f.users {
		f.index[strings.ToLower(u.ID)] = i
	}

	f.assignments, err = r.c.listSorted(withPersonalData(ctx), func() (*absRequest, error) {
		return r.c.graph.RoleManagement().Directory().RoleAssignments().ToGetRequestInformation(ctx, &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{
			QueryParameters: &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{Expand: []string{"principal"}}})
	})
	if err != nil {
		return fmt.Errorf("could not list role assignments: %w", err)
	}
	f.eligible, err = r.c.listSorted(withPersonalData(ctx), func() (*absRequest, error) {
		return r.c.graph.RoleManagement().Directory().RoleEligibilitySchedules().ToGetRequestInformation(ctx, &rolemanagement.DirectoryRoleEligibilitySchedulesRequestBuilderGetRequestConfiguration{
			QueryParameters: &rolemanagement.DirectoryRoleEligibilitySchedulesRequestBuilderGetQueryParameters{Expand: []string{"principal"}}})
	})
	if st, _ := classify("", err); err != nil && st == evidence.StatusNotLicensed {
		// Without Entra ID P2 there is no PIM, so nobody is eligible.
		f.eligible, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("could not list PIM role eligibility schedules: %w", err)
	}

	// The groups whose members matter: those the policies name, and role-assignable groups
	// holding roles.
	ids := map[string]bool{}
	for _, p := range r.ca.policies {
		for _, k := range []string{"includeGroups", "excludeGroups"} {
			for _, id := range strList(dig(p, "conditions", "users", k)) {
				ids[id] = true
			}
		}
	}
	f.groupNames = map[string]string{}
	for _, a := range append(append([]map[string]any(nil), f.assignments...), f.eligible...) {
		if p, _ := a["principal"].(map[string]any); principalType(p) == "group" {
			ids[str(a["principalId"])] = true
			f.groupNames[str(a["principalId"])] = str(p["displayName"])
		}
	}
	f.members = map[string][]string{}
	for _, id := range sortedKeys(ids) {
		m, err := r.transitiveUsers(ctx, id)
		if err != nil {
			return fmt.Errorf("could not list the members of group %s: %w", id, err)
		}
		f.members[id] = m
	}
	return nil
}

// transitiveUsers lists the user ids among a group's transitive members; a group that no
// longer exists has none.
func (r *run) transitiveUsers(ctx context.Context, id string) ([]string, error) {
	top := pageSize
	ri, err := r.c.graph.Groups().ByGroupId(id).TransitiveMembers().GraphUser().ToGetRequestInformation(ctx, &groups.ItemTransitiveMembersGraphUserRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemTransitiveMembersGraphUserRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top}})
	if err != nil {
		return nil, err
	}
	out := []string{}
	err = r.c.list(withPersonalData(ctx), ri, func(items []json.RawMessage) error {
		for _, raw := range items {
			var m struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return err
			}
			out = append(out, m.ID)
		}
		return nil
	})
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.ResponseStatusCode == http.StatusNotFound {
		return []string{}, nil
	}
	sort.Strings(out)
	return out, err
}

// principalType names a role assignment's expanded principal: user, group,
// servicePrincipal, or other.
func principalType(p map[string]any) string {
	switch strings.TrimPrefix(str(p["@odata.type"]), "#microsoft.graph.") {
	case "user":
		return "user"
	case "group":
		return "group"
	case "servicePrincipal":
		return "servicePrincipal"
	}
	return "other"
}

// roleHolder is one person holding one directory role, and how.
type roleHolder struct {
	RoleDefinitionID      string  `json:"roleDefinitionId"`
	RoleName              string  `json:"roleName"`
	ID                    string  `json:"id"`
	UserPrincipalName     *string `json:"userPrincipalName"`
	AccountEnabled        *bool   `json:"accountEnabled"`
	OnPremisesSyncEnabled *bool   `json:"onPremisesSyncEnabled"`
	// Via is "direct" or "group <name>".
	Via string `json:"via"`
	// Eligible: through PIM eligibility, not an active assignment.
	Eligible bool `json:"eligible"`
}

// holders resolves the assignments to people (users directly or through groups, deduplicated
// per role) and lists the service principals holding roles. Only tenant-wide assignments
// (directoryScopeId "/") count: conditional access targets roles only at that scope.
func (f *facts) holders(names map[string]string, eligible bool) (people []roleHolder, sps []map[string]any) {
	seen := map[string]bool{}
	add := func(role, id, via string) {
		key := role + "|" + strings.ToLower(id)
		if seen[key] {
			return
		}
		seen[key] = true
		h := roleHolder{RoleDefinitionID: role, RoleName: names[role], ID: id, Via: via, Eligible: eligible}
		if i, ok := f.index[strings.ToLower(id)]; ok {
			u := f.users[i]
			h.UserPrincipalName, h.AccountEnabled, h.OnPremisesSyncEnabled = u.UserPrincipalName, u.AccountEnabled, u.OnPremisesSyncEnabled
		}
		people = append(people, h)
	}
	list := f.assignments
	if eligible {
		list = f.eligible
	}
	for _, a := range list {
		if s := str(a["directoryScopeId"]); s != "" && s != "/" {
			continue
		}
		role, pid := str(a["roleDefinitionId"]), str(a["principalId"])
		p, _ := a["principal"].(map[string]any)
		switch principalType(p) {
		case "user":
			add(role, pid, "direct")
		case "group":
			for _, m := range f.members[pid] {
				add(role, m, "group "+f.groupNames[pid])
			}
		case "servicePrincipal":
			sps = append(sps, map[string]any{"roleDefinitionId": role, "roleName": names[role], "id": pid,
				"displayName": p["displayName"], "appId": p["appId"]})
		}
	}
	sort.Slice(people, func(i, j int) bool {
		if people[i].RoleDefinitionID != people[j].RoleDefinitionID {
			return people[i].RoleDefinitionID < people[j].RoleDefinitionID
		}
		return people[i].ID < people[j].ID
	})
	return people, sps
}

// tenant builds the evaluator's input from the facts and the conditional access reads.
func (r *run) tenant(f *facts, namedLocations, strengths []map[string]any) (caeval.Tenant, error) {
	var t caeval.Tenant
	var err error
	if t.Policies, err = caeval.DecodePolicies(r.ca.policies); err != nil {
		return t, fmt.Errorf("could not decode the conditional access policies: %w", err)
	}
	if t.NamedLocations, err = caeval.DecodeNamedLocations(namedLocations); err != nil {
		return t, fmt.Errorf("could not decode the named locations: %w", err)
	}
	if t.Strengths, err = caeval.DecodeStrengths(strengths); err != nil {
		return t, fmt.Errorf("could not decode the authentication strengths: %w", err)
	}
	groupsOf := map[string][]string{}
	for g, ms := range f.members {
		for _, m := range ms {
			groupsOf[strings.ToLower(m)] = append(groupsOf[strings.ToLower(m)], g)
		}
	}
	rolesOf := map[string][]string{}
	for _, eligible := range []bool{false, true} {
		people, _ := f.holders(nil, eligible)
		for _, h := range people {
			rolesOf[strings.ToLower(h.ID)] = append(rolesOf[strings.ToLower(h.ID)], h.RoleDefinitionID)
		}
	}
	for _, u := range f.users {
		cu := caeval.User{ID: u.ID, AccountEnabled: u.AccountEnabled, Groups: groupsOf[strings.ToLower(u.ID)], Roles: rolesOf[strings.ToLower(u.ID)]}
		if u.UserPrincipalName != nil {
			cu.UserPrincipalName = *u.UserPrincipalName
		}
		if u.UserType != nil {
			cu.UserType = *u.UserType
		}
		sort.Strings(cu.Groups)
		sort.Strings(cu.Roles)
		t.Users = append(t.Users, cu)
	}
	t.BreakGlass = r.breakGlass.ids
	return t, nil
}
