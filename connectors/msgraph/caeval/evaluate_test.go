package caeval

import (
	"fmt"
	"strings"
	"testing"
)

// The directory every case is judged on: two configured break-glass accounts, three
// members (one Global Administrator directly, one through a role-assignable group), a
// guest and a disabled account.
const (
	roleGA     = "62e90394-69f5-4237-9190-012177145e10"
	roleHelp   = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
	groupStaff = "group-all-staff"
	groupAdm   = "group-admins" // role-assignable, holds Global Administrator
	groupSales = "group-sales"
	exchange   = "00000002-0000-0ff1-ce00-000000000000"
	trustedLoc = "loc-office"
	untrustLoc = "loc-country"
	strengthMF = "00000000-0000-0000-0000-000000000002"
	strengthPL = "00000000-0000-0000-0000-000000000003"
	strengthPR = "00000000-0000-0000-0000-000000000004"
	strengthPW = "custom-password-only"
)

var (
	no        = false
	directory = []User{
		{ID: "bg1", UserPrincipalName: "bg1@contoso.example", UserType: "Member", Roles: []string{roleGA}},
		{ID: "bg2", UserPrincipalName: "bg2@contoso.example", UserType: "Member", Roles: []string{roleGA}},
		{ID: "alice", UserPrincipalName: "alice@contoso.example", UserType: "Member", Groups: []string{groupStaff, groupSales}},
		{ID: "bob", UserPrincipalName: "bob@contoso.example", UserType: "Member", Groups: []string{groupStaff}, Roles: []string{roleGA}},
		{ID: "carol", UserPrincipalName: "carol@contoso.example", UserType: "Member", Groups: []string{groupStaff, groupAdm}, Roles: []string{roleGA}},
		{ID: "gus", UserPrincipalName: "gus_partner.example#EXT#@contoso.example", UserType: "Guest"},
		{ID: "dan", UserPrincipalName: "dan@contoso.example", UserType: "Member", AccountEnabled: &no, Groups: []string{groupStaff}},
	}
	locations = []NamedLocation{{ID: trustedLoc, DisplayName: "Office", IsTrusted: true}, {ID: untrustLoc, DisplayName: "Germany"}}
	strengths = []Strength{
		{ID: strengthMF, DisplayName: "Multifactor authentication", RequirementsSatisfied: "mfa",
			AllowedCombinations: []string{"windowsHelloForBusiness", "fido2", "password,sms", "password,microsoftAuthenticatorPush"}},
		{ID: strengthPL, DisplayName: "Passwordless MFA", RequirementsSatisfied: "mfa",
			AllowedCombinations: []string{"windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor", "deviceBasedPush"}},
		{ID: strengthPR, DisplayName: "Phishing-resistant MFA", RequirementsSatisfied: "mfa",
			AllowedCombinations: []string{"windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"}},
		{ID: strengthPW, DisplayName: "Password or SMS", RequirementsSatisfied: "none", AllowedCombinations: []string{"password", "sms"}},
	}
)

// policy builds an enabled policy for all users (break-glass excluded) and all cloud apps
// with the given grant; options change it.
func policy(name string, grant *GrantControls, opts ...func(*Policy)) Policy {
	p := Policy{ID: "id-" + name, DisplayName: name, State: "enabled", GrantControls: grant, Conditions: &Conditions{
		ClientAppTypes: []string{"all"},
		Applications:   &Applications{IncludeApplications: []string{"All"}},
		Users:          &Users{IncludeUsers: []string{"All"}, ExcludeUsers: []string{"bg1", "bg2"}},
	}}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func grant(op string, controls ...string) *GrantControls {
	return &GrantControls{Operator: op, BuiltInControls: controls}
}

func strengthGrant(id string, controls ...string) *GrantControls {
	return &GrantControls{Operator: "AND", BuiltInControls: controls, AuthenticationStrength: &Strength{ID: id}}
}

var (
	mfa   = grant("OR", "mfa")
	block = grant("OR", "block")
)

func state(s string) func(*Policy) { return func(p *Policy) { p.State = s } }
func users(u Users) func(*Policy) {
	return func(p *Policy) { p.Conditions.Users = &u }
}
func exclude(f func(*Users)) func(*Policy) { return func(p *Policy) { f(p.Conditions.Users) } }
func clients(c ...string) func(*Policy)    { return func(p *Policy) { p.Conditions.ClientAppTypes = c } }
func apps(a Applications) func(*Policy)    { return func(p *Policy) { p.Conditions.Applications = &a } }
func platformsOf(in, ex []string) func(*Policy) {
	return func(p *Policy) { p.Conditions.Platforms = &Platforms{IncludePlatforms: in, ExcludePlatforms: ex} }
}
func locationsOf(in, ex []string) func(*Policy) {
	return func(p *Policy) { p.Conditions.Locations = &Locations{IncludeLocations: in, ExcludeLocations: ex} }
}
func signInRisk(l ...string) func(*Policy) {
	return func(p *Policy) { p.Conditions.SignInRiskLevels = l }
}
func userRisk(l ...string) func(*Policy) { return func(p *Policy) { p.Conditions.UserRiskLevels = l } }
func flowsOf(f string) func(*Policy) {
	return func(p *Policy) { p.Conditions.AuthenticationFlows = &AuthenticationFlows{TransferMethods: f} }
}
func deviceFilter(mode string) func(*Policy) {
	return func(p *Policy) {
		p.Conditions.Devices = &Devices{DeviceFilter: &Filter{Mode: mode, Rule: `device.isCompliant -eq True`}}
	}
}
func nullConditions(p *Policy) { p.Conditions = nil }

// TestEvaluate: each case is a set of policies and a question, with the verdict and the
// reason worked out from Microsoft's description of how conditional access applies
// policies (all applicable enabled policies must be satisfied; within a policy the grant
// operator decides; report-only and disabled policies are not enforced; unset conditions
// do not restrict).
func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		q        Question
		policies []Policy
		bg       []string // nil: bg1 and bg2
		covered  bool
		reason   []string // substrings of the reason, in order
	}{
		// --- MFA for all users and all cloud apps -------------------------------------------
		{"one policy: all users, all apps, MFA", MFAAllUsers, []Policy{policy("CA1", mfa)}, nil, true,
			[]string{"MFA is demanded for every sign-in of all 4 users by CA1"}},
		{"report-only policy never counts", MFAAllUsers, []Policy{policy("CA1", mfa, state("enabledForReportingButNotEnforced"))}, nil, false,
			[]string{"no enabled policy demands MFA", "report-only or disabled ones: CA1"}},
		{"disabled policy never counts", MFAAllUsers, []Policy{policy("CA1", mfa, state("disabled"))}, nil, false,
			[]string{"no enabled policy demands MFA"}},
		{"no policies", MFAAllUsers, nil, nil, false, []string{"no enabled policy demands MFA"}},
		{"OR over mfa and compliant device: a compliant device alone gets in", MFAAllUsers,
			[]Policy{policy("CA1", grant("OR", "mfa", "compliantDevice"))}, nil, false, []string{"no enabled policy demands MFA"}},
		{"AND of mfa and compliant device demands MFA", MFAAllUsers,
			[]Policy{policy("CA1", grant("AND", "mfa", "compliantDevice"))}, nil, true, []string{"by CA1"}},
		{"OR of mfa and compliant device, plus a second policy demanding MFA: all policies must be satisfied", MFAAllUsers,
			[]Policy{policy("CA1", grant("OR", "mfa", "compliantDevice")), policy("CA2", mfa)}, nil, true, []string{"by CA2"}},
		{"block counts: nobody gets in without MFA", MFAAllUsers, []Policy{policy("CA1", block)}, nil, true, []string{"by CA1"}},
		{"authentication strength satisfying MFA", MFAAllUsers, []Policy{policy("CA1", strengthGrant(strengthMF))}, nil, true, nil},
		{"authentication strength that allows a password alone is not MFA", MFAAllUsers,
			[]Policy{policy("CA1", strengthGrant(strengthPW))}, nil, false, []string{"no enabled policy demands MFA"}},
		{"unknown authentication strength is not taken as MFA", MFAAllUsers,
			[]Policy{policy("CA1", strengthGrant("deleted-strength"))}, nil, false, []string{"no enabled policy demands MFA"}},
		{"only the browser", MFAAllUsers, []Policy{policy("CA1", mfa, clients("browser"))}, nil, false,
			[]string{"sign-ins escape under clientAppType: mobileAppsAndDesktopClients, exchangeActiveSync, other"}},
		{"browser plus mobile and desktop: legacy clients escape", MFAAllUsers,
			[]Policy{policy("CA1", mfa, clients("browser", "mobileAppsAndDesktopClients"))}, nil, false,
			[]string{"clientAppType: exchangeActiveSync, other"}},
		{"modern clients by MFA and legacy clients blocked together", MFAAllUsers,
			[]Policy{policy("CA1", mfa, clients("browser", "mobileAppsAndDesktopClients")), policy("CA2", block, clients("exchangeActiveSync", "other"))}, nil, true,
			[]string{"by CA1, CA2"}},
		{"only high sign-in risk", MFAAllUsers, []Policy{policy("CA1", mfa, signInRisk("high"))}, nil, false,
			[]string{"signInRisk: medium, low, none"}},
		{"only one platform", MFAAllUsers, []Policy{policy("CA1", mfa, platformsOf([]string{"windows"}, nil))}, nil, false,
			[]string{"platform: android, iOS, windowsPhone, macOS, linux, unknown"}},
		{"all platforms but iOS", MFAAllUsers, []Policy{policy("CA1", mfa, platformsOf([]string{"all"}, []string{"iOS"}))}, nil, false,
			[]string{"platform: iOS"}},
		{"excluding trusted locations", MFAAllUsers, []Policy{policy("CA1", mfa, locationsOf([]string{"All"}, []string{"AllTrusted"}))}, nil, false,
			[]string{"location: MFA trusted IPs", "Office (loc-office)"}},
		{"only trusted locations", MFAAllUsers, []Policy{policy("CA1", mfa, locationsOf([]string{"AllTrusted"}, nil))}, nil, false,
			[]string{"Germany (loc-country)", "elsewhere"}},
		{"all locations, nothing excluded", MFAAllUsers, []Policy{policy("CA1", mfa, locationsOf([]string{"All"}, nil))}, nil, true, nil},
		{"excluding Exchange Online", MFAAllUsers,
			[]Policy{policy("CA1", mfa, apps(Applications{IncludeApplications: []string{"All"}, ExcludeApplications: []string{exchange}}))}, nil, false,
			[]string{"application: " + exchange}},
		{"only Exchange Online", MFAAllUsers, []Policy{policy("CA1", mfa, apps(Applications{IncludeApplications: []string{exchange}}))}, nil, false,
			[]string{"application: any other application"}},
		{"a user action policy is no sign-in policy", MFAAllUsers,
			[]Policy{policy("CA1", mfa, apps(Applications{IncludeUserActions: []string{"urn:user:registersecurityinfo"}}))}, nil, false,
			[]string{"no enabled policy demands MFA"}},
		{"excluding a role", MFAAllUsers, []Policy{policy("CA1", mfa, exclude(func(u *Users) { u.ExcludeRoles = []string{roleGA} }))}, nil, false,
			[]string{"2 of 4 users left out: bob@contoso.example (excluded by CA1 (excludeRoles)), carol@contoso.example"}},
		{"excluding all guest types", MFAAllUsers, []Policy{policy("CA1", mfa, exclude(func(u *Users) {
			u.ExcludeGuestsOrExternalUsers = &GuestsOrExternal{GuestOrExternalUserTypes: "internalGuest,b2bCollaborationGuest,b2bCollaborationMember,b2bDirectConnectUser,otherExternalUser,serviceProvider"}
		}))}, nil, false, []string{"1 of 4 users left out: gus_partner.example#EXT#@contoso.example (excluded by CA1 (excludeGuestsOrExternalUsers))"}},
		{"excluding guests the legacy way", MFAAllUsers, []Policy{policy("CA1", mfa, exclude(func(u *Users) { u.ExcludeUsers = append(u.ExcludeUsers, "GuestsOrExternalUsers") }))}, nil, false,
			[]string{"gus_partner.example#EXT#@contoso.example (excluded by CA1 (excludeUsers GuestsOrExternalUsers))"}},
		{"excluding a group of all staff", MFAAllUsers, []Policy{policy("CA1", mfa, exclude(func(u *Users) { u.ExcludeGroups = []string{groupStaff} }))}, nil, false,
			[]string{"3 of 4 users left out: alice@contoso.example (excluded by CA1 (excludeGroups))"}},
		{"guests covered by a second policy for guests", MFAAllUsers, []Policy{
			policy("CA1", mfa, exclude(func(u *Users) { u.ExcludeUsers = append(u.ExcludeUsers, "GuestsOrExternalUsers") })),
			policy("CA2", mfa, users(Users{IncludeUsers: []string{"GuestsOrExternalUsers"}}))}, nil, true, []string{"by CA1, CA2"}},
		{"members group plus guests do not make all users when a member is in neither", MFAAllUsers, []Policy{
			policy("CA1", mfa, users(Users{IncludeGroups: []string{groupSales}})),
			policy("CA2", mfa, users(Users{IncludeUsers: []string{"GuestsOrExternalUsers"}}))}, nil, false,
			[]string{"2 of 4 users left out: bob@contoso.example (not included), carol@contoso.example (not included)"}},
		{"break-glass not configured: their exclusion is a finding", MFAAllUsers, []Policy{policy("CA1", mfa)}, []string{}, false,
			[]string{"2 of 6 users left out: bg1@contoso.example (excluded by CA1 (excludeUsers)), bg2@contoso.example"}},
		{"one excluded user besides break-glass is named", MFAAllUsers,
			[]Policy{policy("CA1", mfa, exclude(func(u *Users) { u.ExcludeUsers = append(u.ExcludeUsers, "alice") }))}, nil, false,
			[]string{"1 of 4 users left out: alice@contoso.example (excluded by CA1 (excludeUsers))"}},
		{"excluded user covered by another policy", MFAAllUsers, []Policy{
			policy("CA1", mfa, exclude(func(u *Users) { u.ExcludeUsers = append(u.ExcludeUsers, "alice") })),
			policy("CA2", strengthGrant(strengthPR), users(Users{IncludeUsers: []string{"alice"}}))}, nil, true, []string{"by CA1, CA2"}},
		{"device filter excluding devices leaves those devices", MFAAllUsers, []Policy{policy("CA1", mfa, deviceFilter("exclude"))}, nil, false,
			[]string{"device: device filter of CA1"}},
		{"policy for device code flow only", MFAAllUsers, []Policy{policy("CA1", mfa, flowsOf("deviceCodeFlow"))}, nil, false,
			[]string{"authenticationFlow: none, authenticationTransfer"}},
		{"null conditions never error and target nobody", MFAAllUsers, []Policy{policy("CA1", mfa, nullConditions)}, nil, false,
			[]string{"no enabled policy demands MFA"}},
		{"null grant controls (session controls only) never error", MFAAllUsers, []Policy{policy("CA1", nil)}, nil, false,
			[]string{"no enabled policy demands MFA"}},
		{"workload identity policy does not cover users", MFAAllUsers, []Policy{policy("CA1", mfa, func(p *Policy) {
			p.Conditions.ClientApplications = &ClientApplications{IncludeServicePrincipals: []string{"ServicePrincipalsInMyTenant"}}
		})}, nil, false, []string{"no enabled policy demands MFA"}},
		{"terms of use as an alternative is not MFA", MFAAllUsers, []Policy{policy("CA1", &GrantControls{Operator: "OR", BuiltInControls: []string{"mfa"}, TermsOfUse: []string{"tou"}})}, nil, false,
			[]string{"no enabled policy demands MFA"}},

		// --- Legacy authentication ---------------------------------------------------------
		{"legacy blocked by one policy", LegacyAuthBlocked, []Policy{policy("CA2", block, clients("exchangeActiveSync", "other"))}, nil, true, []string{"a block is demanded"}},
		{"legacy blocked by two policies together", LegacyAuthBlocked, []Policy{
			policy("CA2a", block, clients("exchangeActiveSync")), policy("CA2b", block, clients("other"))}, nil, true, []string{"by CA2a, CA2b"}},
		{"EAS supported platforms count as EAS", LegacyAuthBlocked, []Policy{
			policy("CA2a", block, clients("easSupported")), policy("CA2b", block, clients("other"))}, nil, true, nil},
		{"only EAS blocked", LegacyAuthBlocked, []Policy{policy("CA2", block, clients("exchangeActiveSync"))}, nil, false,
			[]string{"clientAppType: other"}},
		{"legacy block in report-only mode", LegacyAuthBlocked, []Policy{policy("CA2", block, clients("exchangeActiveSync", "other"), state("enabledForReportingButNotEnforced"))}, nil, false,
			[]string{"report-only or disabled ones: CA2"}},
		{"MFA for legacy clients does not block them", LegacyAuthBlocked, []Policy{policy("CA2", mfa, clients("exchangeActiveSync", "other"))}, nil, false,
			[]string{"no enabled policy demands a block"}},
		{"a block of all client apps blocks legacy too", LegacyAuthBlocked, []Policy{policy("CA2", block)}, nil, true, nil},
		{"legacy block excluding a group", LegacyAuthBlocked, []Policy{policy("CA2", block, clients("exchangeActiveSync", "other"), exclude(func(u *Users) { u.ExcludeGroups = []string{groupSales} }))}, nil, false,
			[]string{"alice@contoso.example (excluded by CA2 (excludeGroups))"}},

		// --- Phishing-resistant MFA for administrators -------------------------------------
		{"admins with phishing-resistant strength via role", PhishingResistantAdmins, []Policy{policy("CA3", strengthGrant(strengthPR), users(Users{IncludeRoles: []string{roleGA}, ExcludeUsers: []string{"bg1", "bg2"}}))}, nil, true,
			[]string{"phishing-resistant MFA is demanded for every sign-in of all 2 users"}},
		{"passwordless strength allows device-based push: not phishing-resistant", PhishingResistantAdmins, []Policy{policy("CA3", strengthGrant(strengthPL), users(Users{IncludeRoles: []string{roleGA}}))}, nil, false,
			[]string{"no enabled policy demands phishing-resistant MFA"}},
		{"plain MFA is not phishing-resistant", PhishingResistantAdmins, []Policy{policy("CA3", mfa)}, nil, false, nil},
		{"admin excluded by user", PhishingResistantAdmins, []Policy{policy("CA3", strengthGrant(strengthPR), users(Users{IncludeRoles: []string{roleGA}, ExcludeUsers: []string{"carol"}}))}, nil, false,
			[]string{"1 of 2 users left out: carol@contoso.example (excluded by CA3 (excludeUsers))"}},
		{"policy for another role misses the Global Administrators", PhishingResistantAdmins, []Policy{policy("CA3", strengthGrant(strengthPR), users(Users{IncludeRoles: []string{roleHelp}}))}, nil, false,
			[]string{"2 of 2 users left out: bob@contoso.example (not included), carol@contoso.example (not included)"}},
		{"admin role reached through a role-assignable group", PhishingResistantAdmins, []Policy{
			policy("CA3", strengthGrant(strengthPR), users(Users{IncludeUsers: []string{"bob"}})),
			policy("CA3b", strengthGrant(strengthPR), users(Users{IncludeGroups: []string{groupAdm}}))}, nil, true, nil},

		// --- Compliant or hybrid-joined device --------------------------------------------
		{"compliant or hybrid joined", CompliantDevice, []Policy{policy("CA4", grant("OR", "compliantDevice", "domainJoinedDevice"))}, nil, true, nil},
		{"compliant device or MFA: MFA-only alternative", CompliantDevice, []Policy{policy("CA4", grant("OR", "compliantDevice", "mfa"))}, nil, false,
			[]string{"no enabled policy demands a compliant or hybrid-joined device"}},
		{"compliant device only on Windows", CompliantDevice, []Policy{policy("CA4", grant("OR", "compliantDevice"), platformsOf([]string{"windows", "macOS"}, nil))}, nil, false,
			[]string{"platform: android, iOS, windowsPhone, linux, unknown"}},

		// --- Risk ---------------------------------------------------------------------------
		{"high user risk blocked", HighUserRisk, []Policy{policy("CA7", block, userRisk("high"))}, nil, true, nil},
		{"high user risk: password change with MFA", HighUserRisk, []Policy{policy("CA7", grant("AND", "mfa", "passwordChange"), userRisk("high"))}, nil, true, nil},
		{"high user risk: MFA only is no remediation", HighUserRisk, []Policy{policy("CA7", mfa, userRisk("high"))}, nil, false, nil},
		{"medium user risk only leaves high uncovered", HighUserRisk, []Policy{policy("CA7", block, userRisk("medium"))}, nil, false,
			[]string{"4 of 4 users left out: alice@contoso.example (targeted only under other conditions)"}},
		{"high sign-in risk challenged with MFA", HighSignInRisk, []Policy{policy("CA8", mfa, signInRisk("high", "medium"))}, nil, true, nil},
		{"high sign-in risk only from the browser", HighSignInRisk, []Policy{policy("CA8", block, signInRisk("high"), clients("browser"))}, nil, false,
			[]string{"clientAppType: mobileAppsAndDesktopClients, exchangeActiveSync, other"}},
		{"MFA for everyone also answers high sign-in risk", HighSignInRisk, []Policy{policy("CA1", mfa)}, nil, true, nil},

		// --- Device code flow --------------------------------------------------------------
		{"device code flow blocked", DeviceCodeFlowBlocked, []Policy{policy("CA5", block, flowsOf("deviceCodeFlow"))}, nil, true, nil},
		{"device code and authentication transfer blocked", DeviceCodeFlowBlocked, []Policy{policy("CA5", block, flowsOf("deviceCodeFlow,authenticationTransfer"))}, nil, true, nil},
		{"only authentication transfer blocked", DeviceCodeFlowBlocked, []Policy{policy("CA5", block, flowsOf("authenticationTransfer"))}, nil, false, nil},
		{"device code flow blocked except in the office", DeviceCodeFlowBlocked, []Policy{policy("CA5", block, flowsOf("deviceCodeFlow"), locationsOf([]string{"All"}, []string{trustedLoc}))}, nil, false,
			[]string{"location: Office (loc-office)"}},
	}
	if len(tests) < 40 {
		t.Fatalf("%d cases, want at least 40", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bg := tt.bg
			if bg == nil {
				bg = []string{"bg1", "bg2"}
			}
			res := Evaluate(Tenant{Policies: tt.policies, NamedLocations: locations, Strengths: strengths, Users: directory, BreakGlass: bg}, tt.q)
			if res.Covered != tt.covered {
				t.Errorf("covered = %v, want %v: %s", res.Covered, tt.covered, res.Reason)
			}
			rest := res.Reason
			for _, s := range tt.reason {
				i := strings.Index(rest, s)
				if i < 0 {
					t.Errorf("reason %q lacks %q", res.Reason, s)
					break
				}
				rest = rest[i+len(s):]
			}
			if !res.Covered && len(res.Findings) == 0 {
				t.Errorf("not covered but no findings: %s", res.Reason)
			}
		})
	}
}

// TestEvaluateLargeTenant: many named locations, excluded applications, platforms and risk
// levels in play, and thousands of users: the walk settles covered subtrees at once, and
// the verdict names the one application left out.
func TestEvaluateLargeTenant(t *testing.T) {
	var locs []NamedLocation
	var locIDs []string
	for i := 0; i < 150; i++ {
		id := fmt.Sprintf("loc-%03d", i)
		locs = append(locs, NamedLocation{ID: id, DisplayName: id, IsTrusted: i%10 == 0})
		locIDs = append(locIDs, id)
	}
	var appIDs []string
	for i := 0; i < 40; i++ {
		appIDs = append(appIDs, fmt.Sprintf("app-%02d", i))
	}
	var dir []User
	for i := 0; i < 5000; i++ {
		dir = append(dir, User{ID: fmt.Sprintf("u%05d", i), UserPrincipalName: fmt.Sprintf("u%05d@contoso.example", i), UserType: "Member",
			Groups: []string{fmt.Sprintf("g%d", i%7)}})
	}
	policies := []Policy{
		policy("CA-all", mfa, apps(Applications{IncludeApplications: []string{"All"}, ExcludeApplications: appIDs})),
		policy("CA-apps", mfa, apps(Applications{IncludeApplications: appIDs[1:]})),
		policy("CA-block-countries", block, locationsOf([]string{"All"}, locIDs[:100])),
		policy("CA-risk", block, signInRisk("high")),
		policy("CA-platforms", grant("OR", "compliantDevice"), platformsOf([]string{"android", "iOS"}, nil)),
	}
	for g := 0; g < 7; g++ {
		policies = append(policies, policy(fmt.Sprintf("CA-group-%d", g), grant("AND", "mfa", "compliantDevice"), users(Users{IncludeGroups: []string{fmt.Sprintf("g%d", g)}}), clients("browser")))
	}
	// app-00 is excluded from CA-all and not in CA-apps: only the browser policies, the
	// country block and the risk block reach it, so it escapes where they meet (a desktop
	// client, in an allowed location, at low risk).
	res := Evaluate(Tenant{Policies: policies, NamedLocations: locs, Strengths: strengths, Users: dir}, MFAAllUsers)
	if res.Covered || res.Population != 5000 || len(res.Conditions) != 0 || !strings.Contains(res.Example, "application app-00") {
		t.Errorf("covered %v, population %d, conditions %v, example %q; want app-00 escaping where the restrictions meet: %s",
			res.Covered, res.Population, res.Conditions, res.Example, res.Reason)
	}
	policies = append(policies, policy("CA-app-00", mfa, apps(Applications{IncludeApplications: appIDs[:1]})))
	if res := Evaluate(Tenant{Policies: policies, NamedLocations: locs, Strengths: strengths, Users: dir}, MFAAllUsers); !res.Covered {
		t.Errorf("with app-00 covered too: %s", res.Reason)
	}
}
