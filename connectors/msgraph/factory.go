// Package msgraph is the Microsoft Entra ID and Intune connector: it collects identity and
// endpoint evidence (conditional access, MFA registration, privileged roles and PIM, access
// reviews, tenant policies, sign-in activity, audit logs, Intune devices, compliance
// policies and malware protection) from Microsoft Graph with msgraph-sdk-go.
//
// This is the only package that may import msgraph-sdk-go (it takes ~8 minutes and ~4.5 GB
// to compile cold); its simulator, connectors/msgraph/sim, does not. See README.md.
package msgraph

import (
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// Version is recorded in every envelope; bump it when a document changes shape.
const Version = "1.0.0"

// Factory creates msgraph connectors.
type Factory struct{}

var _ connector.Factory = Factory{}

// Type implements connector.Factory.
func (Factory) Type() string { return "msgraph" }

// Version implements connector.Factory.
func (Factory) Version() string { return Version }

// Kinds implements connector.Factory.
func (Factory) Kinds() []connector.Kind {
	out := make([]connector.Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, connector.Kind{Name: k.name, Title: k.title, Scope: "tenant"})
	}
	return out
}

// Permissions implements connector.Factory: Graph application permissions, all read-only.
func (Factory) Permissions() []connector.Permission {
	byPerm := map[string][]string{}
	var order []string
	for _, k := range kinds {
		for _, p := range k.permissions {
			if _, ok := byPerm[p]; !ok {
				order = append(order, p)
			}
			byPerm[p] = append(byPerm[p], k.name)
		}
	}
	out := make([]connector.Permission, 0, len(order))
	for _, p := range order {
		out = append(out, connector.Permission{System: "msgraph-application", Name: p, Kinds: byPerm[p]})
	}
	return out
}

// New implements connector.Factory. It validates the settings; secrets are resolved and
// credentials checked when Collect runs.
func (Factory) New(settings connector.Settings, opts connector.Options) (connector.Connector, error) {
	cfg, err := parseSettings(settings)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Limits.MaxAttempts <= 0 {
		opts.Limits.MaxAttempts = connector.DefaultLimits.MaxAttempts
	}
	if opts.Limits.MaxPages <= 0 {
		opts.Limits.MaxPages = connector.DefaultLimits.MaxPages
	}
	if opts.Limits.MaxRetryAfter == 0 {
		opts.Limits.MaxRetryAfter = connector.DefaultLimits.MaxRetryAfter
	}
	return &Connector{cfg: cfg, opts: opts, clock: realClock{}}, nil
}

// The artefact kinds, with the Graph application permissions each needs.
const (
	KindLicences            = "msgraph.entra.licences"
	KindSecurityDefaults    = "msgraph.entra.security_defaults"
	KindConditionalAccess   = "msgraph.entra.conditional_access"
	KindRiskPolicies        = "msgraph.entra.risk_policies"
	KindBreakGlass          = "msgraph.entra.break_glass"
	KindMFARegistration     = "msgraph.entra.mfa_registration"
	KindAuthMethodsPolicy   = "msgraph.entra.authentication_methods_policy"
	KindRoleAssignments     = "msgraph.entra.role_assignments"
	KindPIMAssignments      = "msgraph.entra.pim_assignments"
	KindPIMPolicies         = "msgraph.entra.pim_policies"
	KindAccessReviews       = "msgraph.entra.access_reviews"
	KindAuthorizationPolicy = "msgraph.entra.authorization_policy"
	KindAdminConsentPolicy  = "msgraph.entra.admin_consent_policy"
	KindPasswordPolicy      = "msgraph.entra.password_policy"
	KindSignInActivity      = "msgraph.entra.sign_in_activity"
	KindDirectoryAuditLog   = "msgraph.entra.directory_audit_log"
	KindSignInLog           = "msgraph.entra.sign_in_log"
	KindManagedDevices      = "msgraph.intune.managed_devices"
	KindCompliancePolicies  = "msgraph.intune.compliance_policies"
	KindMalwareProtection   = "msgraph.intune.malware_protection"
)

// caPermissions and caCalls are what judging conditional access reads: the policies, the
// named locations and authentication strengths they refer to, the tenant's licences, the
// configured break-glass accounts, every user, the members of the groups the policies name
// and who holds which directory role.
var (
	caPermissions = []string{"Policy.Read.All", "Organization.Read.All", "User.Read.All", "GroupMember.Read.All", "RoleManagement.Read.Directory"}
	caCalls       = []string{"GET /identity/conditionalAccess/policies", "GET /identity/conditionalAccess/namedLocations",
		"GET /policies/authenticationStrengthPolicies", "GET /subscribedSkus", "GET /users/{id | userPrincipalName}?$select=…",
		"GET /users?$select=…&$top=999", "GET /groups/{id}/transitiveMembers/graph.user?$select=id&$top=999",
		"GET /roleManagement/directory/roleAssignments?$expand=principal", "GET /roleManagement/directory/roleEligibilitySchedules?$expand=principal"}
)

type kindInfo struct {
	name, title string
	permissions []string
	// calls are the Graph requests the document derives from, for deploy/msgraph.
	calls []string
}

var kinds = []kindInfo{
	{KindLicences, "Subscribed SKUs and service plans (Entra ID P1/P2, Intune)", []string{"Organization.Read.All"},
		[]string{"GET /subscribedSkus"}},
	{KindSecurityDefaults, "Security defaults and conditional access baseline (MFA for all users judged)", caPermissions,
		append([]string{"GET /policies/identitySecurityDefaultsEnforcementPolicy"}, caCalls...)},
	{KindConditionalAccess, "Conditional access policies, judged (MFA, legacy authentication, admins, devices, device code flow)", caPermissions, caCalls},
	{KindRiskPolicies, "Risk-based conditional access policies, judged (Entra ID P2)", caPermissions, caCalls},
	{KindBreakGlass, "Emergency-access (break-glass) accounts", append([]string{"UserAuthenticationMethod.Read.All"}, caPermissions...),
		append([]string{"GET /users/{id}/authentication/fido2Methods"}, caCalls...)},
	{KindMFARegistration, "Per-user MFA registration (userRegistrationDetails)", []string{"AuditLog.Read.All"},
		[]string{"GET /reports/authenticationMethods/userRegistrationDetails"}},
	{KindAuthMethodsPolicy, "Authentication methods policy", []string{"Policy.Read.All"},
		[]string{"GET /policies/authenticationMethodsPolicy"}},
	{KindRoleAssignments, "Active directory role assignments, the people and service principals holding them", []string{"RoleManagement.Read.Directory", "User.Read.All", "GroupMember.Read.All"},
		[]string{"GET /roleManagement/directory/roleDefinitions?$select=…", "GET /roleManagement/directory/roleAssignments?$expand=principal",
			"GET /roleManagement/directory/roleEligibilitySchedules?$expand=principal", "GET /users?$select=…&$top=999",
			"GET /groups/{id}/transitiveMembers/graph.user?$select=id&$top=999"}},
	{KindPIMAssignments, "PIM eligible and active role assignment schedules (Entra ID P2)", []string{"RoleManagement.Read.Directory"},
		[]string{"GET /roleManagement/directory/roleEligibilitySchedules", "GET /roleManagement/directory/roleAssignmentScheduleInstances"}},
	{KindPIMPolicies, "PIM role settings (activation approval) for directory roles (Entra ID P2)", []string{"RoleManagementPolicy.Read.Directory"},
		[]string{"GET /policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'&$expand=policy($expand=rules)"}},
	{KindAccessReviews, "Access review definitions (Entra ID P2 / Governance)", []string{"AccessReview.Read.All"},
		[]string{"GET /identityGovernance/accessReviews/definitions"}},
	{KindAuthorizationPolicy, "Authorization policy: user consent, app registration, guest settings", []string{"Policy.Read.All"},
		[]string{"GET /policies/authorizationPolicy"}},
	{KindAdminConsentPolicy, "Admin consent request workflow", []string{"Policy.Read.All"},
		[]string{"GET /policies/adminConsentRequestPolicy"}},
	{KindPasswordPolicy, "Password expiry, smart lockout and banned passwords", []string{"Domain.Read.All", "Directory.Read.All"},
		[]string{"GET /domains?$select=…", "GET /groupSettings"}},
	{KindSignInActivity, "Users' last sign-in (stale accounts)", []string{"User.Read.All", "AuditLog.Read.All"},
		[]string{"GET /users?$select=…,signInActivity&$top=500"}},
	{KindDirectoryAuditLog, "Directory audit log availability", []string{"AuditLog.Read.All"},
		[]string{"GET /auditLogs/directoryAudits?$top=1&$orderby=activityDateTime desc"}},
	{KindSignInLog, "Sign-in log availability (Entra ID P1)", []string{"AuditLog.Read.All", "Directory.Read.All"},
		[]string{"GET /auditLogs/signIns?$top=1"}},
	{KindManagedDevices, "Intune managed devices: compliance, encryption, last sync", []string{"DeviceManagementManagedDevices.Read.All"},
		[]string{"GET /deviceManagement/managedDevices?$select=…&$top=999"}},
	{KindCompliancePolicies, "Intune compliance policies per platform in use", []string{"DeviceManagementConfiguration.Read.All", "DeviceManagementManagedDevices.Read.All"},
		[]string{"GET /deviceManagement/managedDevices (shared)", "GET /deviceManagement/deviceCompliancePolicies?$expand=assignments"}},
	{KindMalwareProtection, "Windows malware protection state of managed devices", []string{"DeviceManagementManagedDevices.Read.All"},
		[]string{"GET /deviceManagement/managedDevices (shared)", "POST /$batch of GET /deviceManagement/managedDevices/{id}/windowsProtectionState (20 per batch)"}},
}
