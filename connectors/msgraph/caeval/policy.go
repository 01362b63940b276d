// Package caeval judges Microsoft Entra ID conditional access the way Entra ID enforces it:
// given every policy, the named locations, the authentication strengths and the directory
// (users with their transitive group memberships and directory roles), it decides for a
// question such as "is MFA required for every sign-in of every user?" which users are
// covered, under which conditions, and who or what is left out.
//
// How policies combine (learn.microsoft.com/entra/identity/conditional-access/overview and
// concept-conditional-access-policies): every enabled policy whose assignments and
// conditions match a sign-in applies, and all of them must be satisfied; within one policy
// the grant controls combine with the policy's operator (AND: all of them, OR: any one of
// them); block wins over everything. Policies in report-only mode
// (enabledForReportingButNotEnforced) and disabled policies are never enforced, so they
// never count. A condition that is not configured (null, or an empty list) does not
// restrict the policy.
//
// The evaluator does not guess sign-ins: it walks a finite grid of sign-in situations
// built from the values the policies themselves mention (each client app type, each
// platform, each named location and "elsewhere", each risk level, each authentication
// flow, each device filter), for every class of users that the policies treat alike. A
// question is covered when every situation of every user in its population is covered by
// at least one enabled policy whose grant answers it. The result names the policies that
// do, the users left out (configured break-glass accounts are the only exemption) and the
// conditions under which sign-ins escape. Approximations, all on the side of a finding:
// named locations are taken as disjoint places; an application group such as Office365 is
// not expanded into its applications; a guest whose guest type cannot be told (userType
// Guest) counts as excluded when any guest type is excluded and as included only when
// every guest type it may be is included.
package caeval

import (
	"encoding/json"
	"strings"
)

// Policy is a conditionalAccessPolicy as Graph v1.0 returns it, with the properties the
// evaluator reads. Every property may be null.
type Policy struct {
	ID            string         `json:"id"`
	DisplayName   string         `json:"displayName"`
	State         string         `json:"state"`
	Conditions    *Conditions    `json:"conditions"`
	GrantControls *GrantControls `json:"grantControls"`
}

// Conditions is a conditionalAccessConditionSet.
type Conditions struct {
	Applications        *Applications        `json:"applications"`
	Users               *Users               `json:"users"`
	ClientApplications  *ClientApplications  `json:"clientApplications"`
	ClientAppTypes      []string             `json:"clientAppTypes"`
	Platforms           *Platforms           `json:"platforms"`
	Locations           *Locations           `json:"locations"`
	SignInRiskLevels    []string             `json:"signInRiskLevels"`
	UserRiskLevels      []string             `json:"userRiskLevels"`
	InsiderRiskLevels   *string              `json:"insiderRiskLevels"`
	Devices             *Devices             `json:"devices"`
	AuthenticationFlows *AuthenticationFlows `json:"authenticationFlows"`
}

// Applications is a conditionalAccessApplications.
type Applications struct {
	IncludeApplications []string `json:"includeApplications"`
	ExcludeApplications []string `json:"excludeApplications"`
	IncludeUserActions  []string `json:"includeUserActions"`
	// IncludeAuthenticationContextClassReferences targets authentication contexts, which
	// applications request for sensitive actions, not sign-ins as such.
	IncludeAuthenticationContextClassReferences []string `json:"includeAuthenticationContextClassReferences"`
	ApplicationFilter                           *Filter  `json:"applicationFilter"`
}

// Users is a conditionalAccessUsers.
type Users struct {
	IncludeUsers                 []string          `json:"includeUsers"`
	ExcludeUsers                 []string          `json:"excludeUsers"`
	IncludeGroups                []string          `json:"includeGroups"`
	ExcludeGroups                []string          `json:"excludeGroups"`
	IncludeRoles                 []string          `json:"includeRoles"`
	ExcludeRoles                 []string          `json:"excludeRoles"`
	IncludeGuestsOrExternalUsers *GuestsOrExternal `json:"includeGuestsOrExternalUsers"`
	ExcludeGuestsOrExternalUsers *GuestsOrExternal `json:"excludeGuestsOrExternalUsers"`
}

// GuestsOrExternal is a conditionalAccessGuestsOrExternalUsers.
type GuestsOrExternal struct {
	// GuestOrExternalUserTypes is a flags value: comma-separated guest types.
	GuestOrExternalUserTypes string `json:"guestOrExternalUserTypes"`
	ExternalTenants          *struct {
		MembershipKind string `json:"membershipKind"`
	} `json:"externalTenants"`
}

// ClientApplications is a conditionalAccessClientApplications (workload identities).
type ClientApplications struct {
	IncludeServicePrincipals []string `json:"includeServicePrincipals"`
	ExcludeServicePrincipals []string `json:"excludeServicePrincipals"`
}

// Platforms is a conditionalAccessPlatforms.
type Platforms struct {
	IncludePlatforms []string `json:"includePlatforms"`
	ExcludePlatforms []string `json:"excludePlatforms"`
}

// Locations is a conditionalAccessLocations.
type Locations struct {
	IncludeLocations []string `json:"includeLocations"`
	ExcludeLocations []string `json:"excludeLocations"`
}

// Devices is a conditionalAccessDevices.
type Devices struct {
	DeviceFilter *Filter `json:"deviceFilter"`
}

// Filter is a conditionalAccessFilter: mode include or exclude, and a rule.
type Filter struct {
	Mode string `json:"mode"`
	Rule string `json:"rule"`
}

// AuthenticationFlows is a conditionalAccessAuthenticationFlows.
type AuthenticationFlows struct {
	// TransferMethods is a flags value: deviceCodeFlow, authenticationTransfer.
	TransferMethods string `json:"transferMethods"`
}

// GrantControls is a conditionalAccessGrantControls.
type GrantControls struct {
	Operator                    string    `json:"operator"`
	BuiltInControls             []string  `json:"builtInControls"`
	CustomAuthenticationFactors []string  `json:"customAuthenticationFactors"`
	TermsOfUse                  []string  `json:"termsOfUse"`
	AuthenticationStrength      *Strength `json:"authenticationStrength"`
}

// Strength is an authenticationStrengthPolicy.
type Strength struct {
	ID                    string   `json:"id"`
	DisplayName           string   `json:"displayName"`
	RequirementsSatisfied string   `json:"requirementsSatisfied"`
	AllowedCombinations   []string `json:"allowedCombinations"`
}

// NamedLocation is a namedLocation (ipNamedLocation or countryNamedLocation).
type NamedLocation struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	IsTrusted   bool   `json:"isTrusted"`
}

// User is a directory user with the groups (transitive) and directory roles (active or
// eligible, directly or through a role-assignable group) it holds. Roles are role
// template ids, as conditional access names them.
type User struct {
	ID                string   `json:"id"`
	UserPrincipalName string   `json:"userPrincipalName"`
	UserType          string   `json:"userType"`
	AccountEnabled    *bool    `json:"accountEnabled"`
	Groups            []string `json:"groups,omitempty"`
	Roles             []string `json:"roles,omitempty"`
}

// name is how results name a user: the UPN (pseudonymised where configured), else the id.
func (u User) name() string {
	if u.UserPrincipalName != "" {
		return u.UserPrincipalName
	}
	return u.ID
}

// enabled says whether the account can sign in at all; an unknown state counts as enabled.
func (u User) enabled() bool { return u.AccountEnabled == nil || *u.AccountEnabled }

// Tenant is everything the evaluator judges.
type Tenant struct {
	Policies       []Policy
	NamedLocations []NamedLocation
	// Strengths resolve a policy's authentication strength by id when the policy carries
	// only a reference; an embedded strength with combinations is used as it is.
	Strengths []Strength
	Users     []User
	// BreakGlass are the object ids of the configured emergency-access accounts: the only
	// users a policy may leave out without a finding.
	BreakGlass []string
}

// DecodePolicies decodes Graph's conditionalAccessPolicy objects (as raw JSON or as
// decoded maps) into policies.
func DecodePolicies(v any) ([]Policy, error) {
	var out []Policy
	return out, remarshal(v, &out)
}

// DecodeNamedLocations decodes Graph's namedLocation objects.
func DecodeNamedLocations(v any) ([]NamedLocation, error) {
	var out []NamedLocation
	return out, remarshal(v, &out)
}

// DecodeStrengths decodes Graph's authenticationStrengthPolicy objects.
func DecodeStrengths(v any) ([]Strength, error) {
	var out []Strength
	return out, remarshal(v, &out)
}

func remarshal(v any, out any) error {
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return err
		}
	}
	return json.Unmarshal(b, out)
}

// flags splits a Graph flags value ("a,b") into its members.
func flags(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func has(l []string, s string) bool {
	for _, e := range l {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}
