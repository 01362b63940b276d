package sim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	reUser          = regexp.MustCompile(`^/users/([^/]+)$`)
	reUserFido2     = regexp.MustCompile(`^/users/([^/]+)/authentication/fido2Methods$`)
	reDevice        = regexp.MustCompile(`^/deviceManagement/managedDevices/([^/]+)$`)
	reDeviceProtect = regexp.MustCompile(`^/deviceManagement/managedDevices/([^/]+)/windowsProtectionState$`)
	reGroupUsers    = regexp.MustCompile(`^/groups/([^/]+)/transitiveMembers/(microsoft\.)?graph\.user$`)
)

// route answers one GET below /v1.0.
func (s *Sim) route(r *http.Request, rel string) response {
	q := r.URL.Query()
	if strings.HasPrefix(rel, "/deviceManagement/") && !s.lic.Intune {
		return errNoIntune
	}
	switch rel {
	case "/subscribedSkus":
		return s.list(r, "subscribedSkus", maps(s.subscribedSkus()), false)
	case "/policies/identitySecurityDefaultsEnforcementPolicy":
		return s.entity(r, "policies/identitySecurityDefaultsEnforcementPolicy/$entity", s.securityDefaults())
	case "/identity/conditionalAccess/policies":
		return s.list(r, "identity/conditionalAccess/policies", maps(s.conditionalAccessPolicies()), false)
	case "/identity/conditionalAccess/namedLocations":
		if !s.lic.EntraP1 {
			return errNoP1
		}
		return s.list(r, "identity/conditionalAccess/namedLocations", maps(s.namedLocations()), false)
	case "/policies/authenticationStrengthPolicies":
		return s.list(r, "policies/authenticationStrengthPolicies", maps(authenticationStrengths()), false)
	case "/reports/authenticationMethods/userRegistrationDetails":
		if !s.lic.EntraP1 {
			return errNoP1
		}
		// The API reference: "supports only the $filter and $orderBy OData query parameters";
		// the page size is the service's (the simulator assumes 1000, like the sign-in logs).
		if q.Has("$select") || q.Has("$top") {
			return graphError(http.StatusBadRequest, "BadRequest", "Invalid query: this API supports only $filter and $orderBy.")
		}
		return s.pagedListSized(r, "reports/authenticationMethods/userRegistrationDetails", s.opts.Users, s.registrationDetails, false, 1000, 1000)
	case "/policies/authenticationMethodsPolicy":
		return s.entity(r, "policies/authenticationMethodsPolicy/$entity", s.authenticationMethodsPolicy())
	case "/roleManagement/directory/roleDefinitions":
		return s.list(r, "roleManagement/directory/roleDefinitions", maps(s.roleDefinitions()), true)
	case "/roleManagement/directory/roleAssignments":
		return s.list(r, "roleManagement/directory/roleAssignments", maps(s.withPrincipals(r, s.roleAssignments())), false)
	case "/roleManagement/directory/roleEligibilitySchedules":
		if !s.lic.EntraP2 {
			return errNoP2
		}
		return s.list(r, "roleManagement/directory/roleEligibilitySchedules", maps(s.withPrincipals(r, s.roleEligibilitySchedules())), false)
	case "/roleManagement/directory/roleAssignmentScheduleInstances":
		if !s.lic.EntraP2 {
			return errNoP2
		}
		return s.list(r, "roleManagement/directory/roleAssignmentScheduleInstances", maps(s.roleAssignmentScheduleInstances()), false)
	case "/policies/roleManagementPolicyAssignments":
		if !s.lic.EntraP2 {
			return errNoP2
		}
		// Graph insists on this filter for directory roles.
		if f := q.Get("$filter"); !strings.Contains(f, "scopeId eq '/'") || !strings.Contains(f, "scopeType eq 'DirectoryRole'") {
			return graphError(http.StatusBadRequest, "BadRequest", "The filter must contain scopeId and scopeType.")
		}
		return s.list(r, "policies/roleManagementPolicyAssignments", maps(s.roleManagementPolicyAssignments(strings.Contains(q.Get("$expand"), "rules"))), false)
	case "/identityGovernance/accessReviews/definitions":
		if !s.lic.EntraP2 {
			return errNoP2
		}
		return s.list(r, "identityGovernance/accessReviews/definitions", maps(s.accessReviewDefinitions()), false)
	case "/policies/authorizationPolicy":
		return s.entity(r, "policies/authorizationPolicy/$entity", s.authorizationPolicy())
	case "/policies/adminConsentRequestPolicy":
		return s.entity(r, "policies/adminConsentRequestPolicy/$entity", s.adminConsentRequestPolicy())
	case "/domains":
		return s.list(r, "domains", maps(s.domains()), true)
	case "/groupSettings":
		return s.list(r, "groupSettings", maps(s.groupSettings()), false)
	case "/users":
		if strings.Contains(strings.ToLower(q.Get("$select")), "signinactivity") {
			if !s.lic.EntraP1 {
				return errNoP1
			}
			// With signInActivity the largest page is 500 (user-list, example 11).
			if top, _ := strconv.Atoi(q.Get("$top")); top > 500 {
				return graphError(http.StatusBadRequest, "Request_UnsupportedQuery", "The $top value must be at most 500 when signInActivity is selected.")
			}
		}
		return s.pagedList(r, "users", s.opts.Users, s.userJSON, true)
	case "/auditLogs/directoryAudits":
		return s.pagedList(r, "auditLogs/directoryAudits", 50, s.directoryAudit, false)
	case "/auditLogs/signIns":
		if !s.lic.EntraP1 {
			return errNoP1
		}
		// The API reference (signin-list) documents $top, $skiptoken and $filter, newest
		// first; $orderby is not among them.
		if q.Has("$orderby") {
			return graphError(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query: $orderby is not supported for sign-in logs.")
		}
		// The bad tenant's sign-in log is empty (nothing is logged or it was purged).
		n := 50
		if s.opts.Posture == PostureBad {
			n = 0
		}
		return s.pagedList(r, "auditLogs/signIns", n, s.signIn, false)
	case "/deviceManagement/managedDevices":
		return s.pagedList(r, "deviceManagement/managedDevices", s.opts.Devices, s.deviceJSON, true)
	case "/deviceManagement/deviceCompliancePolicies":
		return s.list(r, "deviceManagement/deviceCompliancePolicies", maps(s.compliancePolicies(strings.Contains(q.Get("$expand"), "assignments"))), false)
	}
	if m := reUser.FindStringSubmatch(rel); m != nil {
		i := s.userIndex(m[1])
		if i < 0 {
			return graphError(http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+m[1]+"' does not exist or one of its queried reference-property objects are not present.")
		}
		return s.entity(r, "users/$entity", s.userJSON(i))
	}
	if m := reUserFido2.FindStringSubmatch(rel); m != nil {
		i := s.indexOf("user", m[1], s.opts.Users)
		if i < 0 {
			return graphError(http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+m[1]+"' does not exist.")
		}
		u := s.user(i)
		keys := []map[string]any{}
		for k := 0; k < u.Fido2; k++ {
			keys = append(keys, map[string]any{"id": s.guid("fido2", i*10+k), "displayName": "YubiKey 5 NFC", "createdDateTime": s.stamp(100),
				"aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8", "model": "YubiKey 5 Series with NFC", "attestationCertificates": []string{}, "attestationLevel": "attested"})
		}
		return s.list(r, "users('"+m[1]+"')/authentication/fido2Methods", maps(keys), false)
	}
	if m := reGroupUsers.FindStringSubmatch(rel); m != nil {
		members, ok := s.groupMembers(m[1])
		if !ok {
			return graphError(http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+m[1]+"' does not exist or one of its queried reference-property objects are not present.")
		}
		return s.pagedList(r, "users", len(members), func(i int) map[string]any { return s.userJSON(members[i]) }, true)
	}
	if m := reDeviceProtect.FindStringSubmatch(rel); m != nil {
		i := s.indexOf("device", m[1], s.opts.Devices)
		if i < 0 || s.device(i).OS != "Windows" {
			return graphError(http.StatusNotFound, "ResourceNotFound", "The windowsProtectionState of the device was not found.")
		}
		return s.entity(r, "deviceManagement/managedDevices('"+m[1]+"')/windowsProtectionState/$entity", s.protectionState(i))
	}
	if m := reDevice.FindStringSubmatch(rel); m != nil {
		i := s.indexOf("device", m[1], s.opts.Devices)
		if i < 0 {
			return graphError(http.StatusNotFound, "ResourceNotFound", "The managed device was not found.")
		}
		return s.entity(r, "deviceManagement/managedDevices/$entity", s.deviceJSON(i))
	}
	return graphError(http.StatusNotFound, "Request_ResourceNotFound", "Resource not found for the segment '"+strings.TrimPrefix(rel, "/")+"'.")
}

// userIndex finds a user by object id or, like Graph, by user principal name.
func (s *Sim) userIndex(key string) int {
	if i := s.indexOf("user", key, s.opts.Users); i >= 0 || !strings.Contains(key, "@") {
		return i
	}
	for i := 0; i < s.opts.Users; i++ {
		if strings.EqualFold(s.user(i).UPN, key) {
			return i
		}
	}
	return -1
}

func maps(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

func (s *Sim) context(r *http.Request, set string) string {
	return baseURL(r) + "/v1.0/$metadata#" + set
}

func (s *Sim) entity(r *http.Request, set string, v map[string]any) response {
	out := selectFields(v, r.URL.Query().Get("$select"))
	out["@odata.context"] = s.context(r, set)
	return ok(out)
}

// list answers a small collection, paged like the large ones.
func (s *Sim) list(r *http.Request, set string, items []map[string]any, selectable bool) response {
	return s.pagedList(r, set, len(items), func(i int) map[string]any { return items[i] }, selectable)
}

const (
	defaultPageSize = 100
	maxPageSize     = 999
)

// pagedList answers one page of a collection of n items: $top (bounded like Graph),
// $skiptoken from the previous page's @odata.nextLink, and $select.
func (s *Sim) pagedList(r *http.Request, set string, n int, item func(i int) map[string]any, selectable bool) response {
	return s.pagedListSized(r, set, n, item, selectable, defaultPageSize, maxPageSize)
}

func (s *Sim) pagedListSized(r *http.Request, set string, n int, item func(i int) map[string]any, selectable bool, defaultTop, maxTop int) response {
	q := r.URL.Query()
	top := defaultTop
	if t := q.Get("$top"); t != "" {
		v, err := strconv.Atoi(t)
		if err != nil || v < 1 {
			return graphError(http.StatusBadRequest, "Request_BadRequest", "Invalid value '"+t+"' for query parameter $top.")
		}
		top = min(v, maxTop)
	}
	offset := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			offset, err = strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		}
		if err != nil || offset < 0 || offset > n {
			return graphError(http.StatusBadRequest, "Request_BadRequest", "The specified page token value has expired or is invalid.")
		}
	}
	sel := ""
	if selectable {
		sel = q.Get("$select")
	}
	end := min(n, offset+top)
	value := make([]map[string]any, 0, end-offset)
	for i := offset; i < end; i++ {
		value = append(value, selectFields(item(i), sel))
	}
	body := map[string]any{"@odata.context": s.context(r, set), "value": value}
	if end < n {
		next := url.Values{}
		for k, v := range q {
			if k != "$skiptoken" {
				next[k] = v
			}
		}
		next.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("offset:"+strconv.Itoa(end))))
		body["@odata.nextLink"] = baseURL(r) + r.URL.Path + "?" + next.Encode()
	}
	return ok(body)
}

// selectFields keeps the properties named in a $select list (case-insensitive, as Graph),
// plus @odata.type which Graph returns for derived types.
func selectFields(v map[string]any, sel string) map[string]any {
	if sel == "" {
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = x
		}
		return out
	}
	out := map[string]any{}
	for _, f := range strings.Split(sel, ",") {
		f = strings.TrimSpace(f)
		for k, x := range v {
			if strings.EqualFold(k, f) {
				out[k] = x
			}
		}
	}
	if t, ok := v["@odata.type"]; ok {
		out["@odata.type"] = t
	}
	return out
}

// userJSON returns a user with every property the connector may $select; without $select
// the simulator, unlike Graph, returns them all, which is harmless for the connector.
func (s *Sim) userJSON(i int) map[string]any {
	u := s.user(i)
	first, last, _ := strings.Cut(u.DisplayName, " ")
	var synced any
	if u.Synced {
		synced = true
	}
	var mail any
	if u.Mail != "" {
		mail = u.Mail
	}
	m := map[string]any{"id": u.ID, "displayName": u.DisplayName, "userPrincipalName": u.UPN, "mail": mail,
		"givenName": first, "surname": last, "jobTitle": nil, "businessPhones": []string{}, "mobilePhone": nil,
		"officeLocation": nil, "preferredLanguage": "en-US", "userType": u.UserType, "accountEnabled": u.Enabled,
		"createdDateTime": ts(u.Created), "onPremisesSyncEnabled": synced, "onPremisesImmutableId": nil}
	if u.Synced {
		m["onPremisesImmutableId"] = base64.StdEncoding.EncodeToString([]byte(u.ID[:16]))
	}
	act := map[string]any{"lastSignInDateTime": nil, "lastSignInRequestId": nil, "lastNonInteractiveSignInDateTime": nil,
		"lastNonInteractiveSignInRequestId": nil, "lastSuccessfulSignInDateTime": nil, "lastSuccessfulSignInRequestId": nil}
	if u.LastSignIn != nil {
		act["lastSignInDateTime"] = ts(*u.LastSignIn)
		act["lastSignInRequestId"] = s.guid("signin", i)
		act["lastSuccessfulSignInDateTime"] = ts(*u.LastSuccess)
		act["lastSuccessfulSignInRequestId"] = s.guid("signin-ok", i)
		act["lastNonInteractiveSignInDateTime"] = ts(u.LastSignIn.Add(-2 * time.Hour))
		act["lastNonInteractiveSignInRequestId"] = s.guid("signin-ni", i)
	}
	m["signInActivity"] = act
	return m
}

// preferredMethod maps a registered method to the userDefaultAuthenticationMethod member
// Graph reports as preferred (FIDO2 has none).
var preferredMethod = map[string]string{"microsoftAuthenticatorPush": "push", "softwareOneTimePasscode": "oath",
	"mobilePhone": "sms", "fido2": "none", "none": "none"}

func (s *Sim) registrationDetails(i int) map[string]any {
	u := s.user(i)
	return map[string]any{"id": u.ID, "userPrincipalName": u.UPN, "userDisplayName": u.DisplayName,
		"userType": strings.ToLower(u.UserType), "isAdmin": u.IsAdmin, "isSsprRegistered": u.MFARegistered,
		"isSsprEnabled": true, "isSsprCapable": u.MFARegistered, "isMfaRegistered": u.MFARegistered,
		"isMfaCapable": u.MFARegistered, "isPasswordlessCapable": u.Fido2 > 0, "isSystemPreferredAuthenticationMethodEnabled": true,
		"methodsRegistered": u.Methods, "systemPreferredAuthenticationMethods": []string{},
		"userPreferredMethodForSecondaryAuthentication": preferredMethod[u.DefaultMFAType], "lastUpdatedDateTime": s.stamp(3)}
}

func (s *Sim) deviceJSON(i int) map[string]any {
	d := s.device(i)
	model := map[string]string{"Windows": "Latitude 7440", "macOS": "MacBookPro18,3", "iOS": "iPhone 15", "Android": "SM-S921B"}[d.OS]
	return map[string]any{"id": d.ID, "userId": d.UserID, "deviceName": d.Name, "managedDeviceOwnerType": d.OwnerType,
		"enrolledDateTime": ts(d.Enrolled), "lastSyncDateTime": ts(d.LastSync), "operatingSystem": d.OS,
		"complianceState": d.Compliance, "jailBroken": "False", "managementAgent": "mdm", "osVersion": d.OSVersion,
		"easActivated": true, "easDeviceId": "", "easActivationDateTime": "0001-01-01T00:00:00Z", "azureADRegistered": true,
		"deviceEnrollmentType": "userEnrollment", "emailAddress": d.UPN, "azureADDeviceId": s.guid("aaddevice", i),
		"deviceRegistrationState": "registered", "isSupervised": false, "exchangeLastSuccessfulSyncDateTime": "0001-01-01T00:00:00Z",
		"exchangeAccessState": "none", "isEncrypted": d.Encrypted, "userPrincipalName": d.UPN, "model": model,
		"manufacturer": map[string]string{"Windows": "Dell Inc.", "macOS": "Apple", "iOS": "Apple", "Android": "samsung"}[d.OS],
		"serialNumber": strings.ToUpper(s.guid("serial", i)[:12]), "userDisplayName": d.UserDisplayName,
		"managedDeviceName": d.UPN + "_" + d.OS, "partnerReportedThreatState": "unknown",
		"complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z", "totalStorageSpaceInBytes": 256000000000,
		"freeStorageSpaceInBytes": 120000000000}
}

func (s *Sim) protectionState(i int) map[string]any {
	d := s.device(i)
	now := s.now().UTC().Truncate(time.Second)
	return map[string]any{"@odata.type": "#microsoft.graph.windowsProtectionState", "id": d.ID,
		"malwareProtectionEnabled": true, "deviceState": "clean", "realTimeProtectionEnabled": d.RealTime,
		"networkInspectionSystemEnabled": true, "quickScanOverdue": false, "fullScanOverdue": false,
		"signatureUpdateOverdue": d.SignatureOverdue, "rebootRequired": false, "fullScanRequired": false,
		"engineVersion": "1.1.24090.11", "signatureVersion": "1.419.181.0", "antiMalwareVersion": "4.18.24090.11",
		"lastQuickScanDateTime": ts(now.Add(-20 * time.Hour)), "lastFullScanDateTime": ts(now.Add(-6 * 24 * time.Hour)),
		"lastQuickScanSignatureVersion": "1.419.181.0", "lastFullScanSignatureVersion": "1.419.100.0",
		"lastReportedDateTime": ts(now.Add(-2 * time.Hour)), "productStatus": "noStatus", "isVirtualMachine": false,
		"tamperProtectionEnabled": true}
}

func (s *Sim) directoryAudit(i int) map[string]any {
	u := s.user(2)
	age := time.Duration(i*7+5) * time.Minute
	if s.opts.Posture == PostureBad {
		// The bad tenant's directory audit log stopped a month ago.
		age += 30 * 24 * time.Hour
	}
	return map[string]any{"id": "Directory_" + s.guid("audit", i), "category": "UserManagement", "correlationId": s.guid("corr", i),
		"result": "success", "resultReason": "", "activityDisplayName": "Update user",
		"activityDateTime": ts(s.now().UTC().Truncate(time.Second).Add(-age)),
		"loggedByService":  "Core Directory", "operationType": "Update",
		"initiatedBy":       map[string]any{"app": nil, "user": map[string]any{"id": u.ID, "displayName": nil, "userPrincipalName": u.UPN, "ipAddress": "203.0.113.7"}},
		"targetResources":   []map[string]any{{"id": s.user(20 + i%10).ID, "displayName": nil, "type": "User", "userPrincipalName": s.user(20 + i%10).UPN}},
		"additionalDetails": []any{}}
}

func (s *Sim) signIn(i int) map[string]any {
	u := s.user(12 + i%max(1, s.opts.Users-12))
	return map[string]any{"id": s.guid("signin-log", i), "createdDateTime": ts(s.now().UTC().Truncate(time.Second).Add(-time.Duration(i*3+1) * time.Minute)),
		"userDisplayName": u.DisplayName, "userPrincipalName": u.UPN, "userId": u.ID, "appId": "00000002-0000-0ff1-ce00-000000000000",
		"appDisplayName": "Office 365 Exchange Online", "ipAddress": "198.51.100.23", "clientAppUsed": "Browser",
		"conditionalAccessStatus": "success", "isInteractive": true, "status": map[string]any{"errorCode": 0, "failureReason": "Other.", "additionalDetails": nil}}
}

// serveBatch answers a JSON $batch of up to 20 GET sub-requests, each routed as if it had
// been sent alone (faults of the harness apply to the $batch request itself only).
func (s *Sim) serveBatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Requests []struct {
			ID     string `json:"id"`
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"requests"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(req.Requests) == 0 || len(req.Requests) > 20 {
		writeError(w, http.StatusBadRequest, "BadRequest", "Invalid batch payload format: a batch holds 1 to 20 requests.")
		return
	}
	type subResponse struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	}
	out := struct {
		Responses []subResponse `json:"responses"`
	}{}
	for _, sr := range req.Requests {
		s.subCalls.Add(1)
		u, err := url.Parse(sr.URL)
		if err != nil || !strings.HasPrefix(sr.URL, "/") || !strings.EqualFold(sr.Method, http.MethodGet) {
			b, _ := json.Marshal(errorBody("BadRequest", "Invalid request URL or method."))
			out.Responses = append(out.Responses, subResponse{ID: sr.ID, Status: http.StatusBadRequest, Headers: map[string]string{"Content-Type": "application/json"}, Body: b})
			continue
		}
		if n := s.subCalls.Load(); n <= int64(s.opts.ThrottledBatchItems) {
			b, _ := json.Marshal(errorBody("TooManyRequests", "Too many requests."))
			out.Responses = append(out.Responses, subResponse{ID: sr.ID, Status: http.StatusTooManyRequests,
				Headers: map[string]string{"Content-Type": "application/json", "Retry-After": "2"}, Body: b})
			continue
		}
		inner := r.Clone(r.Context())
		inner.Method = http.MethodGet
		inner.URL = &url.URL{Path: "/v1.0" + u.Path, RawQuery: u.RawQuery}
		inner.Body = http.NoBody
		res := s.route(inner, u.Path)
		b, err := json.Marshal(res.body)
		if err != nil {
			b, _ = json.Marshal(errorBody("InternalServerError", "The simulator could not encode the response."))
			res.status = http.StatusInternalServerError
		}
		out.Responses = append(out.Responses, subResponse{ID: sr.ID, Status: res.status,
			Headers: map[string]string{"Content-Type": "application/json"}, Body: b})
	}
	writeJSON(w, http.StatusOK, out)
}
