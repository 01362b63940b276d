package sim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Shapes follow the Microsoft Graph v1.0 reference examples for each resource.

const (
	phishingResistantStrength = "00000000-0000-0000-0000-000000000004"
	restrictedGuestRole       = "2af84b1e-32c8-42b7-82bc-daa82404023b"
	memberLikeGuestRole       = "a0b1b346-4d3e-4e8b-98f8-753987be4970"
	passwordRuleTemplate      = "5cf42378-d67d-4f36-ba46-e8b86229381d"
)

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (s *Sim) stamp(daysAgo int) string {
	return ts(s.now().UTC().Truncate(time.Second).Add(-time.Duration(daysAgo) * 24 * time.Hour))
}

func strs(v ...string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// caPolicy builds a conditionalAccessPolicy with every property Graph returns.
func (s *Sim) caPolicy(n int, name, state string, users, apps, conditions, grant map[string]any) map[string]any {
	u := map[string]any{"includeUsers": strs(), "excludeUsers": strs(), "includeGroups": strs(), "excludeGroups": strs(),
		"includeRoles": strs(), "excludeRoles": strs(), "includeGuestsOrExternalUsers": nil, "excludeGuestsOrExternalUsers": nil}
	for k, v := range users {
		u[k] = v
	}
	a := map[string]any{"includeApplications": strs(), "excludeApplications": strs(), "includeUserActions": strs(),
		"includeAuthenticationContextClassReferences": strs(), "applicationFilter": nil}
	for k, v := range apps {
		a[k] = v
	}
	c := map[string]any{"userRiskLevels": strs(), "signInRiskLevels": strs(), "clientAppTypes": strs("all"),
		"servicePrincipalRiskLevels": strs(), "platforms": nil, "locations": nil, "devices": nil, "clientApplications": nil,
		"authenticationFlows": nil, "applications": a, "users": u}
	for k, v := range conditions {
		c[k] = v
	}
	g := map[string]any{"operator": "OR", "builtInControls": strs(), "customAuthenticationFactors": strs(), "termsOfUse": strs(),
		"authenticationStrength": nil}
	for k, v := range grant {
		g[k] = v
	}
	return map[string]any{"id": s.guid("capolicy", n), "templateId": nil, "displayName": name,
		"createdDateTime": s.stamp(300 - n), "modifiedDateTime": s.stamp(30 + n), "state": state,
		"sessionControls": nil, "conditions": c, "grantControls": g}
}

var privilegedRoleTemplates = []string{RoleGlobalAdministrator, RolePrivilegedRoleAdministrator, RoleSecurityAdministrator,
	RoleUserAdministrator, RoleExchangeAdministrator, RoleApplicationAdministrator, RolePrivilegedAuthenticationAdmin,
	RoleCloudApplicationAdministrator, RoleConditionalAccessAdministrator, RoleHelpdeskAdministrator}

func (s *Sim) conditionalAccessPolicies() []map[string]any {
	if !s.lic.EntraP1 {
		return nil
	}
	bg := strs(s.user(0).ID, s.user(1).ID)
	all := map[string]any{"includeUsers": strs("All"), "excludeUsers": bg}
	allApps := map[string]any{"includeApplications": strs("All")}
	block := map[string]any{"builtInControls": strs("block")}
	strength := map[string]any{"id": phishingResistantStrength, "createdDateTime": "2021-12-01T00:00:00Z",
		"modifiedDateTime": "2021-12-01T00:00:00Z", "displayName": "Phishing-resistant MFA",
		"description": "Phishing-resistant, Passwordless methods for the strongest authentication, such as a FIDO2 security key",
		"policyType":  "builtIn", "requirementsSatisfied": "mfa",
		"allowedCombinations": strs("windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor")}
	mfaAll := s.caPolicy(1, "CA001: Require multifactor authentication for all users", "enabled", all, allApps, nil,
		map[string]any{"builtInControls": strs("mfa")})
	legacy := s.caPolicy(2, "CA002: Block legacy authentication", "enabled", all, allApps,
		map[string]any{"clientAppTypes": strs("exchangeActiveSync", "other")}, block)
	admins := s.caPolicy(3, "CA003: Require phishing-resistant MFA for administrators", "enabled",
		map[string]any{"includeRoles": privilegedRoleTemplates, "excludeUsers": bg}, allApps, nil,
		map[string]any{"authenticationStrength": strength})
	compliant := s.caPolicy(4, "CA004: Require compliant or hybrid joined device", "enabled", all, allApps, nil,
		map[string]any{"builtInControls": strs("compliantDevice", "domainJoinedDevice")})
	deviceCode := s.caPolicy(5, "CA005: Block device code flow", "enabled", all, allApps,
		map[string]any{"authenticationFlows": map[string]any{"transferMethods": "deviceCodeFlow"}}, block)
	registration := s.caPolicy(6, "CA006: Security info registration from compliant devices", "enabled", all,
		map[string]any{"includeUserActions": strs("urn:user:registersecurityinfo")}, nil,
		map[string]any{"builtInControls": strs("compliantDevice", "domainJoinedDevice")})
	userRisk := s.caPolicy(7, "CA007: Block high user risk", "enabled", all, allApps,
		map[string]any{"userRiskLevels": strs("high")}, block)
	signInRisk := s.caPolicy(8, "CA008: Block high sign-in risk", "enabled", all, allApps,
		map[string]any{"signInRiskLevels": strs("high")}, block)

	// Policies that use the other condition types: they add restrictions and never take
	// coverage away.
	countries := s.caPolicy(9, "CA009: Block sign-ins from outside the allowed countries", "enabled", all, allApps,
		map[string]any{"locations": map[string]any{"includeLocations": strs("All"), "excludeLocations": strs("AllTrusted", s.guid("location", 2))}}, block)
	platforms := s.caPolicy(10, "CA010: Block unsupported device platforms", "enabled", all, allApps,
		map[string]any{"platforms": map[string]any{"includePlatforms": strs("all"), "excludePlatforms": strs("android", "iOS", "windows", "macOS", "linux")}}, block)
	guests := s.caPolicy(11, "CA011: Terms of use for guests", "enabled",
		map[string]any{"includeGuestsOrExternalUsers": map[string]any{"guestOrExternalUserTypes": "internalGuest,b2bCollaborationGuest,b2bCollaborationMember",
			"externalTenants": map[string]any{"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"}}},
		allApps, map[string]any{"devices": map[string]any{"deviceFilter": map[string]any{"mode": "exclude", "rule": `device.trustType -eq "ServerAD"`}}},
		map[string]any{"operator": "AND", "builtInControls": strs("mfa")})

	switch s.opts.Posture {
	case PostureGood:
		return []map[string]any{mfaAll, legacy, admins, compliant, deviceCode, registration, userRisk, signInRisk, countries, platforms, guests}
	case PostureBad:
		mfaAdmins := s.caPolicy(1, "Require MFA for admins", "enabled",
			map[string]any{"includeRoles": strs(RoleGlobalAdministrator)}, allApps, nil, map[string]any{"builtInControls": strs("mfa")})
		compliant["state"] = "enabledForReportingButNotEnforced"
		// MFA "for all users" that leaves out the whole staff group, and from the browser
		// only: covers almost nobody.
		staffExcluded := s.caPolicy(12, "Require MFA for all users (browser)", "enabled",
			map[string]any{"includeUsers": strs("All"), "excludeGroups": strs(s.guid("group", groupAllStaff))}, allApps,
			map[string]any{"clientAppTypes": strs("browser")}, map[string]any{"builtInControls": strs("mfa", "compliantDevice")})
		return []map[string]any{mfaAdmins, compliant, staffExcluded}
	default:
		// The demo tenant left legacy authentication in report-only mode, and without P2 it
		// has no risk-based policies.
		legacy["state"] = "enabledForReportingButNotEnforced"
		out := []map[string]any{mfaAll, legacy, admins, compliant, deviceCode, registration, countries, platforms, guests}
		if s.lic.EntraP2 {
			out = append(out, userRisk, signInRisk)
		}
		return out
	}
}

// namedLocations are an office IP range (trusted) and the country the company works in.
func (s *Sim) namedLocations() []map[string]any {
	return []map[string]any{
		{"@odata.type": "#microsoft.graph.ipNamedLocation", "id": s.guid("location", 1), "displayName": "Head office",
			"createdDateTime": s.stamp(500), "modifiedDateTime": s.stamp(100), "isTrusted": true,
			"ipRanges": []map[string]any{{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}}},
		{"@odata.type": "#microsoft.graph.countryNamedLocation", "id": s.guid("location", 2), "displayName": "Germany",
			"createdDateTime": s.stamp(500), "modifiedDateTime": s.stamp(100), "countriesAndRegions": strs("DE"),
			"includeUnknownCountriesAndRegions": false, "countryLookupMethod": "clientIpAddress"},
	}
}

// authenticationStrengths are the built-in strengths as the API reference lists them.
func authenticationStrengths() []map[string]any {
	strength := func(n int, name, description string, combos ...string) map[string]any {
		return map[string]any{"id": fmt.Sprintf("00000000-0000-0000-0000-00000000000%d", n), "createdDateTime": "2021-12-01T00:00:00Z",
			"modifiedDateTime": "2021-12-01T00:00:00Z", "displayName": name, "description": description, "policyType": "builtIn",
			"requirementsSatisfied": "mfa", "allowedCombinations": combos, "combinationConfigurations": []any{}}
	}
	return []map[string]any{
		strength(2, "Multifactor authentication", "Combinations of methods that satisfy strong authentication, such as a password + SMS",
			"windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor", "deviceBasedPush", "temporaryAccessPassOneTime",
			"temporaryAccessPassMultiUse", "password,microsoftAuthenticatorPush", "password,softwareOath", "password,hardwareOath",
			"password,x509CertificateSingleFactor", "password,x509CertificateMultiFactor", "password,sms", "password,voice",
			"federatedMultiFactor", "microsoftAuthenticatorPush,federatedSingleFactor", "softwareOath,federatedSingleFactor",
			"hardwareOath,federatedSingleFactor", "sms,federatedSingleFactor", "voice,federatedSingleFactor"),
		strength(3, "Passwordless MFA", "Passwordless methods that satisfy strong authentication, such as Passwordless sign-in with the Microsoft Authenticator",
			"windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor", "deviceBasedPush"),
		strength(4, "Phishing-resistant MFA", "Phishing-resistant, Passwordless methods for the strongest authentication, such as a FIDO2 security key",
			"windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"),
	}
}

// The tenant's groups: all member users (transitively, through a nested group of the
// head office), and a role-assignable group of helpdesk administrators.
const (
	groupAllStaff  = 2
	groupHeadOffic = 4
	groupHelpdesk  = 3
)

// groupMembers returns the indexes of a group's transitive user members.
func (s *Sim) groupMembers(id string) ([]int, bool) {
	switch id {
	case s.guid("group", groupAllStaff):
		var out []int
		for i := 0; i < s.opts.Users; i++ {
			if s.user(i).UserType == "Member" && !s.user(i).BreakGlass {
				out = append(out, i)
			}
		}
		return out, true
	case s.guid("group", groupHeadOffic):
		return []int{2, 3, 4, 5, 6}, true
	case s.guid("group", groupHelpdesk):
		return []int{5, 6}, true
	}
	return nil, false
}

// The service principal of an automation app that holds a directory role.
func (s *Sim) automationApp() map[string]any {
	return map[string]any{"@odata.type": "#microsoft.graph.servicePrincipal", "id": s.guid("serviceprincipal", 1),
		"appId": s.guid("app", 1), "displayName": "Contoso provisioning automation", "servicePrincipalType": "Application",
		"accountEnabled": true}
}

// withPrincipals expands each assignment's principal when the request asks for it
// ($expand=principal), as Graph does: a user, a group or a service principal.
func (s *Sim) withPrincipals(r *http.Request, list []map[string]any) []map[string]any {
	if !strings.Contains(r.URL.Query().Get("$expand"), "principal") {
		return list
	}
	for _, a := range list {
		id := str(a["principalId"])
		switch {
		case id == s.guid("group", groupHelpdesk):
			a["principal"] = map[string]any{"@odata.type": "#microsoft.graph.group", "id": id, "displayName": "Helpdesk administrators",
				"isAssignableToRole": true, "securityEnabled": true, "mailEnabled": false, "groupTypes": []string{}}
		case id == s.guid("serviceprincipal", 1):
			a["principal"] = s.automationApp()
		default:
			if i := s.indexOf("user", id, s.opts.Users); i >= 0 {
				u := selectFields(s.userJSON(i), "id,displayName,userPrincipalName,userType,accountEnabled,onPremisesSyncEnabled")
				u["@odata.type"] = "#microsoft.graph.user"
				a["principal"] = u
			}
		}
	}
	return list
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func (s *Sim) securityDefaults() map[string]any {
	return map[string]any{"id": "00000000-0000-0000-0000-000000000005", "displayName": "Security Defaults",
		"description": "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks.",
		"isEnabled":   false}
}

func (s *Sim) authenticationMethodsPolicy() map[string]any {
	good := s.opts.Posture != PostureBad
	state := func(on bool) string {
		if on {
			return "enabled"
		}
		return "disabled"
	}
	allUsers := []map[string]any{{"targetType": "group", "id": "all_users", "isRegistrationRequired": false}}
	// The bad tenant shows application and location only to a pilot group.
	feature := func(on bool) map[string]any {
		target := "all_users"
		if !on {
			target = s.guid("group", 5)
		}
		return map[string]any{"state": "enabled", "includeTarget": map[string]any{"targetType": "group", "id": target},
			"excludeTarget": map[string]any{"targetType": "group", "id": "00000000-0000-0000-0000-000000000000"}}
	}
	migration := "migrationComplete"
	if !good {
		migration = "migrationInProgress"
	}
	return map[string]any{
		"id": "authenticationMethodsPolicy", "displayName": "Authentication Methods Policy",
		"description":          "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings",
		"lastModifiedDateTime": s.stamp(60), "policyVersion": "1.5", "reconfirmationInDays": nil,
		"policyMigrationState": migration,
		"registrationEnforcement": map[string]any{"authenticationMethodsRegistrationCampaign": map[string]any{
			"snoozeDurationInDays": 1, "state": state(good),
			"excludeTargets": []any{}, "includeTargets": []map[string]any{{"id": "all_users", "targetType": "group", "targetedAuthenticationMethod": "microsoftAuthenticator"}}}},
		"authenticationMethodConfigurations": []map[string]any{
			{"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "id": "Fido2", "state": "enabled",
				"isSelfServiceRegistrationAllowed": true, "isAttestationEnforced": good,
				"keyRestrictions": map[string]any{"isEnforced": false, "enforcementType": "block", "aaGuids": []string{}},
				"includeTargets":  allUsers, "excludeTargets": []any{}},
			{"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration", "id": "MicrosoftAuthenticator",
				"state": "enabled", "isSoftwareOathEnabled": false,
				"featureSettings": map[string]any{"displayAppInformationRequiredState": feature(good), "displayLocationInformationRequiredState": feature(good)},
				"includeTargets":  []map[string]any{{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "authenticationMode": "any"}},
				"excludeTargets":  []any{}},
			{"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "id": "Sms", "state": state(!good),
				"includeTargets": allUsers, "excludeTargets": []any{}},
			{"@odata.type": "#microsoft.graph.voiceAuthenticationMethodConfiguration", "id": "Voice", "state": state(!good),
				"isOfficePhoneAllowed": false, "includeTargets": allUsers, "excludeTargets": []any{}},
			{"@odata.type": "#microsoft.graph.emailAuthenticationMethodConfiguration", "id": "Email", "state": "disabled",
				"allowExternalIdToUseEmailOtp": "default", "includeTargets": []any{}, "excludeTargets": []any{}},
			{"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration", "id": "TemporaryAccessPass",
				"state": "enabled", "defaultLifetimeInMinutes": 60, "defaultLength": 8, "minimumLifetimeInMinutes": 60,
				"maximumLifetimeInMinutes": 480, "isUsableOnce": true, "includeTargets": allUsers, "excludeTargets": []any{}},
			{"@odata.type": "#microsoft.graph.softwareOathAuthenticationMethodConfiguration", "id": "SoftwareOath", "state": "enabled",
				"includeTargets": allUsers, "excludeTargets": []any{}},
			{"@odata.type": "#microsoft.graph.x509CertificateAuthenticationMethodConfiguration", "id": "X509Certificate", "state": "disabled",
				"includeTargets": allUsers, "excludeTargets": []any{}},
		},
	}
}

func (s *Sim) authorizationPolicy() map[string]any {
	p := map[string]any{"id": "authorizationPolicy", "displayName": "Authorization Policy",
		"description":                               "Used to manage authorization related settings across the company.",
		"allowInvitesFrom":                          "adminsAndGuestInviters",
		"allowedToSignUpEmailBasedSubscriptions":    false,
		"allowedToUseSSPR":                          true,
		"allowEmailVerifiedUsersToJoinOrganization": false,
		"allowUserConsentForRiskyApps":              false,
		"blockMsolPowerShell":                       true,
		"guestUserRoleId":                           restrictedGuestRole,
		"defaultUserRolePermissions": map[string]any{
			"allowedToCreateApps": false, "allowedToCreateSecurityGroups": false, "allowedToCreateTenants": false,
			"allowedToReadBitlockerKeysForOwnedDevice": true, "allowedToReadOtherUsers": true,
			// The documented form of the ids starts in lower case.
			"permissionGrantPoliciesAssigned": []string{"managePermissionGrantsForSelf.microsoft-user-default-low",
				"managePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team"},
		},
	}
	if s.opts.Posture == PostureBad {
		p["allowInvitesFrom"] = "everyone"
		p["guestUserRoleId"] = memberLikeGuestRole
		p["blockMsolPowerShell"] = false
		p["defaultUserRolePermissions"] = map[string]any{
			"allowedToCreateApps": true, "allowedToCreateSecurityGroups": true, "allowedToCreateTenants": true,
			"allowedToReadBitlockerKeysForOwnedDevice": true, "allowedToReadOtherUsers": true,
			"permissionGrantPoliciesAssigned": []string{"managePermissionGrantsForSelf.microsoft-user-default-legacy"},
		}
	}
	return p
}

func (s *Sim) adminConsentRequestPolicy() map[string]any {
	if s.opts.Posture == PostureBad {
		return map[string]any{"isEnabled": false, "notifyReviewers": false, "remindersEnabled": false,
			"requestDurationInDays": 0, "version": 0, "reviewers": []any{}}
	}
	return map[string]any{"isEnabled": true, "notifyReviewers": true, "remindersEnabled": true, "requestDurationInDays": 30,
		"version": 2, "reviewers": []map[string]any{
			{"query": "/users/" + s.user(2).ID, "queryType": "MicrosoftGraph", "queryRoot": nil},
			{"query": "/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '" + RoleCloudApplicationAdministrator + "'", "queryType": "MicrosoftGraph", "queryRoot": nil},
		}}
}

func (s *Sim) domains() []map[string]any {
	validity := 2147483647
	if s.opts.Posture == PostureBad {
		validity = 90
	}
	d := func(id string, def, initial bool) map[string]any {
		return map[string]any{"id": id, "authenticationType": "Managed", "availabilityStatus": nil, "isAdminManaged": true,
			"isDefault": def, "isInitial": initial, "isRoot": true, "isVerified": true, "manufacturer": nil, "model": nil,
			"passwordNotificationWindowInDays": 14, "passwordValidityPeriodInDays": validity,
			"supportedServices": []string{"Email", "OfficeCommunicationsOnline"}, "state": nil}
	}
	return []map[string]any{d(domain, true, false), d("contosoexample.onmicrosoft.com", false, true)}
}

func (s *Sim) groupSettings() []map[string]any {
	threshold, duration, banned, list := "10", "60", "True", "contoso\texhibit\tsommer2026"
	if s.opts.Posture == PostureBad {
		threshold, duration, banned, list = "50", "5", "False", ""
	}
	return []map[string]any{{"id": s.guid("groupsetting", 1), "displayName": "Password Rule Settings", "templateId": passwordRuleTemplate,
		"values": []map[string]any{
			{"name": "BannedPasswordCheckOnPremisesMode", "value": "Audit"},
			{"name": "EnableBannedPasswordCheckOnPremises", "value": "True"},
			{"name": "EnableBannedPasswordCheck", "value": banned},
			{"name": "LockoutDurationInSeconds", "value": duration},
			{"name": "LockoutThreshold", "value": threshold},
			{"name": "BannedPasswordList", "value": list},
		}}}
}

func (s *Sim) roleDefinitions() []map[string]any {
	out := make([]map[string]any, 0, len(roleOrder))
	for _, id := range roleOrder {
		out = append(out, map[string]any{"id": id, "templateId": id, "displayName": roleNames[id], "description": roleNames[id] + ".",
			"isBuiltIn": true, "isEnabled": true, "resourceScopes": []string{"/"}, "version": "1"})
	}
	return out
}

// privilegedUsers returns the users that hold or may hold a directory role; they are the
// first few users by construction.
func (s *Sim) privilegedUsers() []user {
	var out []user
	for i := 0; i < 12 && i < s.opts.Users; i++ {
		if u := s.user(i); len(u.Roles) > 0 || len(u.EligibleRoles) > 0 {
			out = append(out, u)
		}
	}
	return out
}

func (s *Sim) roleAssignments() []map[string]any {
	var out []map[string]any
	for _, u := range s.privilegedUsers() {
		for _, r := range u.Roles {
			out = append(out, map[string]any{"id": s.guid("assignment:"+r, u.Index), "principalId": u.ID, "roleDefinitionId": r,
				"directoryScopeId": "/", "appScopeId": nil})
		}
	}
	// A role-assignable group of helpdesk administrators (in the good tenant only eligible,
	// through PIM), and an automation app holding a role (Global Reader; Global
	// Administrator in the bad tenant).
	if s.opts.Posture != PostureGood {
		out = append(out, map[string]any{"id": s.guid("assignment:group", groupHelpdesk), "principalId": s.guid("group", groupHelpdesk),
			"roleDefinitionId": RoleHelpdeskAdministrator, "directoryScopeId": "/", "appScopeId": nil})
	}
	appRole := RoleGlobalReader
	if s.opts.Posture == PostureBad {
		appRole = RoleGlobalAdministrator
	}
	out = append(out, map[string]any{"id": s.guid("assignment:app", 1), "principalId": s.guid("serviceprincipal", 1),
		"roleDefinitionId": appRole, "directoryScopeId": "/", "appScopeId": nil})
	return out
}

func (s *Sim) roleEligibilitySchedules() []map[string]any {
	var out []map[string]any
	if s.opts.Posture == PostureGood {
		out = append(out, map[string]any{"id": s.guid("eligibility:group", groupHelpdesk), "principalId": s.guid("group", groupHelpdesk),
			"roleDefinitionId": RoleHelpdeskAdministrator, "directoryScopeId": "/", "appScopeId": nil, "memberType": "Direct", "status": "Provisioned",
			"createdUsing": s.guid("eligibility:group", groupHelpdesk), "createdDateTime": s.stamp(90), "modifiedDateTime": nil,
			"scheduleInfo": map[string]any{"startDateTime": s.stamp(90), "recurrence": nil,
				"expiration": map[string]any{"type": "noExpiration", "endDateTime": nil, "duration": nil}}})
	}
	for _, u := range s.privilegedUsers() {
		for _, r := range u.EligibleRoles {
			out = append(out, map[string]any{"id": s.guid("eligibility:"+r, u.Index), "principalId": u.ID, "roleDefinitionId": r,
				"directoryScopeId": "/", "appScopeId": nil, "memberType": "Direct", "status": "Provisioned",
				"createdUsing": s.guid("eligibility:"+r, u.Index), "createdDateTime": s.stamp(90), "modifiedDateTime": nil,
				"scheduleInfo": map[string]any{"startDateTime": s.stamp(90), "recurrence": nil,
					"expiration": map[string]any{"type": "afterDateTime", "endDateTime": ts(s.now().Add(275 * 24 * time.Hour).Truncate(time.Second)), "duration": nil}}})
		}
	}
	return out
}

func (s *Sim) roleAssignmentScheduleInstances() []map[string]any {
	var out []map[string]any
	for _, u := range s.privilegedUsers() {
		for _, r := range u.Roles {
			inst := map[string]any{"id": s.guid("instance:"+r, u.Index), "principalId": u.ID, "roleDefinitionId": r,
				"directoryScopeId": "/", "appScopeId": nil, "memberType": "Direct",
				"roleAssignmentOriginId": s.guid("assignment:"+r, u.Index), "roleAssignmentScheduleId": s.guid("schedule:"+r, u.Index)}
			if u.Permanent {
				inst["assignmentType"], inst["startDateTime"], inst["endDateTime"] = "Assigned", s.stamp(400), nil
			} else {
				now := s.now().UTC().Truncate(time.Second)
				inst["assignmentType"], inst["startDateTime"], inst["endDateTime"] = "Activated", ts(now.Add(-time.Hour)), ts(now.Add(7*time.Hour))
			}
			out = append(out, inst)
		}
	}
	return out
}

func (s *Sim) roleManagementPolicyAssignments(expand bool) []map[string]any {
	out := make([]map[string]any, 0, len(roleOrder))
	for n, role := range roleOrder {
		policyID := fmt.Sprintf("Directory_%s_%s", s.opts.TenantID, s.guid("rolepolicy", n))
		a := map[string]any{"id": policyID + "_" + role, "policyId": policyID, "scopeId": "/", "scopeType": "DirectoryRole", "roleDefinitionId": role}
		if expand {
			approval := s.opts.Posture == PostureGood && (role == RoleGlobalAdministrator || role == RolePrivilegedRoleAdministrator)
			approvers := []map[string]any{}
			if approval {
				approvers = append(approvers, map[string]any{"@odata.type": "#microsoft.graph.singleUser", "userId": s.user(2).ID, "description": nil})
			}
			mode := "NoApproval"
			if approval {
				mode = "SingleStage"
			}
			a["policy"] = map[string]any{"id": policyID, "displayName": "Directory", "description": "Directory",
				"isOrganizationDefault": false, "scopeId": "/", "scopeType": "Directory", "lastModifiedDateTime": nil,
				"rules": []map[string]any{
					{"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyApprovalRule", "id": "Approval_EndUser_Assignment",
						"target": map[string]any{"caller": "EndUser", "operations": []string{"all"}, "level": "Assignment", "inheritableSettings": []string{}, "enforcedSettings": []string{}},
						"setting": map[string]any{"isApprovalRequired": approval, "isApprovalRequiredForExtension": false,
							"isRequestorJustificationRequired": true, "approvalMode": mode,
							"approvalStages": []map[string]any{{"approvalStageTimeOutInDays": 1, "isApproverJustificationRequired": true,
								"escalationTimeInMinutes": 0, "isEscalationEnabled": false, "primaryApprovers": approvers, "escalationApprovers": []any{}}}}},
					{"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule", "id": "Expiration_EndUser_Assignment",
						"isExpirationRequired": true, "maximumDuration": "PT8H",
						"target": map[string]any{"caller": "EndUser", "operations": []string{"all"}, "level": "Assignment", "inheritableSettings": []string{}, "enforcedSettings": []string{}}},
					{"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule", "id": "Enablement_EndUser_Assignment",
						"enabledRules": []string{"MultiFactorAuthentication", "Justification"},
						"target":       map[string]any{"caller": "EndUser", "operations": []string{"all"}, "level": "Assignment", "inheritableSettings": []string{}, "enforcedSettings": []string{}}},
				}}
		}
		out = append(out, a)
	}
	return out
}

func (s *Sim) accessReviewDefinitions() []map[string]any {
	if s.opts.Posture == PostureBad {
		return []map[string]any{{"id": s.guid("review", 9), "displayName": "One-off review of Sales group", "status": "Completed",
			"createdDateTime": s.stamp(200), "lastModifiedDateTime": s.stamp(170), "descriptionForAdmins": "", "descriptionForReviewers": "",
			"scope":     map[string]any{"@odata.type": "#microsoft.graph.accessReviewQueryScope", "query": "/groups/" + s.guid("group", 1) + "/transitiveMembers", "queryType": "MicrosoftGraph", "queryRoot": nil},
			"reviewers": []any{}, "settings": map[string]any{"mailNotificationsEnabled": true, "reminderNotificationsEnabled": true,
				"justificationRequiredOnApproval": false, "defaultDecisionEnabled": false, "defaultDecision": "None",
				"instanceDurationInDays": 14, "autoApplyDecisionsEnabled": false, "recommendationsEnabled": true,
				"recurrence": nil}}}
	}
	recurrence := func(months int) map[string]any {
		return map[string]any{"pattern": map[string]any{"type": "absoluteMonthly", "interval": months, "month": 0, "dayOfMonth": 0,
			"daysOfWeek": []string{}, "firstDayOfWeek": "sunday", "index": "first"},
			"range": map[string]any{"type": "noEnd", "numberOfOccurrences": 0, "recurrenceTimeZone": nil, "startDate": "2025-01-01", "endDate": nil}}
	}
	settings := func(months int) map[string]any {
		return map[string]any{"mailNotificationsEnabled": true, "reminderNotificationsEnabled": true, "justificationRequiredOnApproval": true,
			"defaultDecisionEnabled": true, "defaultDecision": "Deny", "instanceDurationInDays": 14, "autoApplyDecisionsEnabled": true,
			"recommendationsEnabled": true, "recurrence": recurrence(months)}
	}
	// The documented scope forms: a role review by role definition (principalResourceMembershipsScope),
	// a role review by roleAssignmentScheduleInstances query, and a guest review of all
	// Microsoft 365 groups (API reference, list definitions, example 2), whose definition
	// here has no status property (Graph returns it only for some definitions).
	return []map[string]any{
		{"id": s.guid("review", 1), "displayName": "Quarterly review of privileged directory roles", "status": "InProgress",
			"createdDateTime": s.stamp(400), "lastModifiedDateTime": s.stamp(40), "descriptionForAdmins": "ISO 27001 A.5.18", "descriptionForReviewers": "Confirm each privileged role is still needed.",
			"scope": map[string]any{"@odata.type": "#microsoft.graph.principalResourceMembershipsScope",
				"principalScopes": []map[string]any{{"@odata.type": "#microsoft.graph.accessReviewQueryScope", "query": "/users", "queryType": "MicrosoftGraph", "queryRoot": nil}},
				"resourceScopes":  []map[string]any{{"@odata.type": "#microsoft.graph.accessReviewQueryScope", "query": "/roleManagement/directory/roleDefinitions/" + RoleGlobalAdministrator, "queryType": "MicrosoftGraph", "queryRoot": nil}}},
			"reviewers":                []map[string]any{{"query": "/users/" + s.user(2).ID, "queryType": "MicrosoftGraph", "queryRoot": nil}},
			"settings":                 settings(3),
			"instanceEnumerationScope": nil},
		{"id": s.guid("review", 3), "displayName": "Semi-annual review of Security Administrator assignments", "status": "NotStarted",
			"createdDateTime": s.stamp(380), "lastModifiedDateTime": s.stamp(35), "descriptionForAdmins": "", "descriptionForReviewers": "",
			"scope": map[string]any{"@odata.type": "#microsoft.graph.accessReviewQueryScope",
				"query":     "/roleManagement/directory/roleAssignmentScheduleInstances?$expand=principal&$filter=(isof(principal,'microsoft.graph.user') and roleDefinitionId eq '" + RoleSecurityAdministrator + "')",
				"queryType": "MicrosoftGraph", "queryRoot": nil},
			"reviewers": []map[string]any{{"query": "/users/" + s.user(2).ID, "queryType": "MicrosoftGraph", "queryRoot": nil}},
			"settings":  settings(6), "instanceEnumerationScope": nil},
		{"id": s.guid("review", 2), "displayName": "Review guest access across Microsoft 365 groups",
			"createdDateTime": s.stamp(380), "lastModifiedDateTime": s.stamp(35), "descriptionForAdmins": "Guests", "descriptionForReviewers": "Confirm each guest still needs access.",
			"scope": map[string]any{"@odata.type": "#microsoft.graph.accessReviewQueryScope",
				"query": "./members/microsoft.graph.user/?$count=true&$filter=(userType eq 'Guest')", "queryType": "MicrosoftGraph", "queryRoot": nil},
			"instanceEnumerationScope": map[string]any{"@odata.type": "#microsoft.graph.accessReviewQueryScope",
				"query": "/groups?$filter=(groupTypes/any(c:c+eq+'Unified'))&$count=true", "queryType": "MicrosoftGraph", "queryRoot": nil},
			"reviewers": []map[string]any{{"query": "./manager", "queryType": "MicrosoftGraph", "queryRoot": "decisions"}},
			"settings":  settings(3)},
	}
}

func (s *Sim) compliancePolicies(expand bool) []map[string]any {
	assigned := []map[string]any{{"id": s.guid("assignment", 1), "target": map[string]any{"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}}}
	pol := func(n int, typ, name string, props map[string]any) map[string]any {
		p := map[string]any{"@odata.type": "#microsoft.graph." + typ, "id": s.guid("compliance", n), "displayName": name,
			"description": "", "createdDateTime": s.stamp(300), "lastModifiedDateTime": s.stamp(60), "version": 3}
		if typ != "iosCompliancePolicy" {
			p["passwordRequired"] = true
		}
		for k, v := range props {
			p[k] = v
		}
		if expand {
			p["assignments"] = assigned
		}
		return p
	}
	win := pol(1, "windows10CompliancePolicy", "Windows 10/11 baseline", map[string]any{"osMinimumVersion": "10.0.19045",
		"bitLockerEnabled": true, "secureBootEnabled": true, "codeIntegrityEnabled": true, "storageRequireEncryption": true,
		"earlyLaunchAntiMalwareDriverEnabled": true, "requireHealthyDeviceReport": true})
	mac := pol(2, "macOSCompliancePolicy", "macOS baseline", map[string]any{"osMinimumVersion": "14.0",
		"storageRequireEncryption": true, "firewallEnabled": true, "systemIntegrityProtectionEnabled": true})
	ios := pol(3, "iosCompliancePolicy", "iOS baseline", map[string]any{"osMinimumVersion": "17.0", "passcodeRequired": true,
		"securityBlockJailbrokenDevices": true, "managedEmailProfileRequired": false})
	android := pol(4, "androidWorkProfileCompliancePolicy", "Android work profile baseline", map[string]any{"osMinimumVersion": "13",
		"storageRequireEncryption": true, "securityBlockJailbrokenDevices": true, "securityRequireVerifyApps": true})
	if s.opts.Posture == PostureBad {
		if expand {
			win["assignments"] = []any{}
		}
		android["storageRequireEncryption"] = false
		ios["osMinimumVersion"] = nil
		return []map[string]any{win, ios, android}
	}
	return []map[string]any{win, mac, ios, android}
}

func (s *Sim) subscribedSkus() []map[string]any {
	plan := func(id, name string) map[string]any {
		return map[string]any{"servicePlanId": id, "servicePlanName": name, "provisioningStatus": "Success", "appliesTo": "User"}
	}
	plans := []map[string]any{plan("efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE")}
	sku, part := "f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM"
	if s.lic.EntraP1 {
		plans = append(plans, plan("41781fb2-bc02-4b7c-bd55-b576c07bb09d", "AAD_PREMIUM"))
		sku, part = "05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3"
	}
	if s.lic.EntraP2 {
		plans = append(plans, plan("eec0eb4f-6444-4f95-aba0-50c24d67f998", "AAD_PREMIUM_P2"))
		sku, part = "06ebc4ee-1bb5-47dd-8120-11324bc54e06", "SPE_E5"
	}
	if s.lic.Intune {
		plans = append(plans, plan("c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "INTUNE_A"))
	}
	return []map[string]any{{"accountName": "contoso", "accountId": s.opts.TenantID, "appliesTo": "User", "capabilityStatus": "Enabled",
		"consumedUnits": s.opts.Users, "id": s.opts.TenantID + "_" + sku, "skuId": sku, "skuPartNumber": part,
		"subscriptionIds": []string{s.guid("subscription", 1)},
		"prepaidUnits":    map[string]any{"enabled": s.opts.Users + 10, "suspended": 0, "warning": 0, "lockedOut": 0},
		"servicePlans":    plans}}
}
