package sim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func init() {
	register("sts", map[string]handlerFunc{"GetCallerIdentity": (*Sim).getCallerIdentity, "AssumeRole": (*Sim).assumeRole})
	register("iam", map[string]handlerFunc{
		"GetAccountPasswordPolicy":       (*Sim).getAccountPasswordPolicy,
		"GetAccountSummary":              (*Sim).getAccountSummary,
		"GenerateCredentialReport":       (*Sim).generateCredentialReport,
		"GetCredentialReport":            (*Sim).getCredentialReport,
		"GetAccountAuthorizationDetails": (*Sim).getAccountAuthorizationDetails,
		"ListVirtualMFADevices":          (*Sim).listVirtualMFADevices,
	})
	register("organizations", map[string]handlerFunc{"ListAccounts": (*Sim).listAccounts, "DescribeOrganization": (*Sim).describeOrganization})
	register("account", map[string]handlerFunc{"GetAlternateContact": (*Sim).getAlternateContact})
}

func (s *Sim) getCallerIdentity(w http.ResponseWriter, c *call) {
	a := c.account
	writeQuery(w, c, leaf("Account", a.ID), leaf("Arn", "arn:aws:iam::"+a.ID+":user/exhibit"), leaf("UserId", "AIDASIM"+a.ID))
}

func (s *Sim) assumeRole(w http.ResponseWriter, c *call) {
	arn := c.form.Get("RoleArn")
	var target *account
	for _, a := range s.accounts {
		if arn == "arn:aws:iam::"+a.ID+":role/"+RoleName {
			target = a
		}
	}
	if target == nil {
		s.writeError(w, c, http.StatusForbidden, "AccessDenied", "User is not authorized to perform: sts:AssumeRole on resource: "+arn)
		return
	}
	if s.opts.ExternalID != "" && c.form.Get("ExternalId") != s.opts.ExternalID {
		s.writeError(w, c, http.StatusForbidden, "AccessDenied", "User is not authorized to perform: sts:AssumeRole on resource: "+arn+" (external id)")
		return
	}
	// Expiration is real time: the SDK's credentials cache compares it with the wall clock.
	exp := time.Now().UTC().Add(time.Hour)
	session := c.form.Get("RoleSessionName")
	writeQuery(w, c,
		el("Credentials", leaf("AccessKeyId", sessionKey(target.ID)), leaf("SecretAccessKey", "sim-session-secret"),
			leaf("SessionToken", "sim-session-token-"+target.ID), leaf("Expiration", exp)),
		el("AssumedRoleUser", leaf("Arn", "arn:aws:sts::"+target.ID+":assumed-role/"+RoleName+"/"+session), leaf("AssumedRoleId", "AROASIM"+target.ID+":"+session)))
}

func (s *Sim) getAccountPasswordPolicy(w http.ResponseWriter, c *call) {
	if c.account.has("no_password_policy", "") {
		s.writeError(w, c, http.StatusNotFound, "NoSuchEntity", "The Password Policy with domain name "+c.account.ID+" cannot be found.")
		return
	}
	writeQuery(w, c, el("PasswordPolicy",
		leaf("MinimumPasswordLength", 14), leaf("RequireSymbols", true), leaf("RequireNumbers", true),
		leaf("RequireUppercaseCharacters", true), leaf("RequireLowercaseCharacters", true),
		leaf("AllowUsersToChangePassword", true), leaf("ExpirePasswords", true), leaf("MaxPasswordAge", 90),
		leaf("PasswordReusePrevention", 24), leaf("HardExpiry", false)))
}

func (s *Sim) getAccountSummary(w http.ResponseWriter, c *call) {
	a := c.account
	mfa, keys := 1, 0
	if a.has("root_no_mfa", "") {
		mfa = 0
	}
	if a.has("root_access_keys", "") {
		keys = 1
	}
	entries := []string{}
	for _, kv := range []struct {
		k string
		v int
	}{{"AccountAccessKeysPresent", keys}, {"AccountMFAEnabled", mfa}, {"AccountPasswordPresent", 1}, {"AccountSigningCertificatesPresent", 0},
		{"Users", s.opts.Users}, {"UsersQuota", 5000}, {"Groups", 2}, {"Roles", 1}, {"Policies", 2}, {"MFADevices", s.opts.Users + 1}} {
		entries = append(entries, leaf("key", kv.k)+leaf("value", kv.v))
	}
	writeQuery(w, c, list("SummaryMap", "entry", entries))
}

// listVirtualMFADevices lists the users' virtual MFA devices; the root user's MFA is a
// hardware device unless the account has the root_virtual_mfa defect.
func (s *Sim) listVirtualMFADevices(w http.ResponseWriter, c *call) {
	a := c.account
	var items []string
	device := func(serial, arn string) string {
		return leaf("SerialNumber", serial) + el("User", leaf("Arn", arn), leaf("UserId", s.id("uid", arn)), leaf("Path", "/"),
			leaf("UserName", arn[strings.LastIndex(arn, "/")+1:]), leaf("CreateDate", s.opts.Now.Add(-days(500)))) + leaf("EnableDate", s.opts.Now.Add(-days(400)))
	}
	if a.has("root_virtual_mfa", "") && !a.has("root_no_mfa", "") {
		items = append(items, device("arn:aws:iam::"+a.ID+":mfa/root-account-mfa-device", "arn:aws:iam::"+a.ID+":root"))
	}
	for i := 0; i < s.opts.Users; i++ {
		name := fmt.Sprintf("user-%02d", i)
		items = append(items, device("arn:aws:iam::"+a.ID+":mfa/"+name, "arn:aws:iam::"+a.ID+":user/"+name))
	}
	start, end, next := s.page(len(items), c.form.Get("Marker"))
	out := []string{list("VirtualMFADevices", "member", items[start:end]), leaf("IsTruncated", next != "")}
	if next != "" {
		out = append(out, leaf("Marker", next))
	}
	writeQuery(w, c, out...)
}

func (s *Sim) generateCredentialReport(w http.ResponseWriter, c *call) {
	s.mu.Lock()
	s.polls[c.account.ID]++
	n := s.polls[c.account.ID]
	s.mu.Unlock()
	state := "COMPLETE"
	if n <= s.opts.ReportPolls {
		state = "STARTED"
	}
	writeQuery(w, c, leaf("State", state), leaf("Description", "No report exists. Starting a new report generation task"))
}

func (s *Sim) getCredentialReport(w http.ResponseWriter, c *call) {
	s.mu.Lock()
	n := s.polls[c.account.ID]
	s.mu.Unlock()
	if n <= s.opts.ReportPolls {
		s.writeError(w, c, http.StatusGone, "ReportNotPresent", "Credential report not present")
		return
	}
	csv := s.credentialReport(c.account)
	writeQuery(w, c, leaf("Content", base64.StdEncoding.EncodeToString([]byte(csv))),
		leaf("ReportFormat", "text/csv"), leaf("GeneratedTime", s.opts.Now.Add(-time.Hour)))
}

// credentialReport returns the CSV of an account's credential report.
func (s *Sim) credentialReport(a *account) string {
	ts := func(d time.Duration) string { return s.opts.Now.Add(-d).Format("2006-01-02T15:04:05+00:00") }
	header := "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
	rows := []string{header}
	rootMFA, rootKey, rootUsed := "true", "false", ts(days(200))
	if a.has("root_no_mfa", "") {
		rootMFA = "false"
	}
	rootKeyRotated, rootKeyUsed := "N/A", "N/A"
	if a.has("root_access_keys", "") {
		rootKey, rootKeyRotated, rootKeyUsed = "true", ts(days(30)), ts(days(3))
	}
	if a.has("root_used", "") {
		rootUsed = ts(days(2))
	}
	rows = append(rows, strings.Join([]string{"<root_account>", "arn:aws:iam::" + a.ID + ":root", ts(days(1000)), "not_supported", rootUsed, "not_supported", "not_supported", rootMFA,
		rootKey, rootKeyRotated, rootKeyUsed, "N/A", "N/A", "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"}, ","))
	for i := 0; i < s.opts.Users; i++ {
		name := fmt.Sprintf("user-%02d", i)
		mfa, pwUsed := "true", ts(days(1))
		keyActive, rotated, used, usedRegion, usedSvc := "true", ts(days(30)), ts(days(1)), s.opts.Regions[0], "s3"
		if i == 0 && a.has("user_no_mfa", "") {
			mfa = "false"
		}
		if i == 1 && a.has("stale_access_key", "") {
			rotated = ts(days(400))
		}
		if i == 2 && a.has("unused_credentials", "") {
			used, pwUsed = ts(days(200)), ts(days(100))
		}
		if i == 3 {
			// A service user: no console password, one key.
			rows = append(rows, strings.Join([]string{name, "arn:aws:iam::" + a.ID + ":user/" + name, ts(days(500)), "false", "N/A", "N/A", "N/A", "false",
				keyActive, rotated, used, usedRegion, usedSvc, "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"}, ","))
			continue
		}
		rows = append(rows, strings.Join([]string{name, "arn:aws:iam::" + a.ID + ":user/" + name, ts(days(500)), "true", pwUsed, ts(days(60)), ts(days(30)), mfa,
			keyActive, rotated, used, usedRegion, usedSvc, "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"}, ","))
	}
	return strings.Join(rows, "\n") + "\n"
}

func policyJSON(v any) string {
	b, _ := json.Marshal(v)
	return strings.ReplaceAll(url.QueryEscape(string(b)), "+", "%20")
}

func (s *Sim) getAccountAuthorizationDetails(w http.ResponseWriter, c *call) {
	a := c.account
	acctARN := "arn:aws:iam::" + a.ID + ":"
	attached := func(name, arn string) string { return leaf("PolicyName", name) + leaf("PolicyArn", arn) }
	var entities []struct{ kind, xml string }
	for i := 0; i < s.opts.Users; i++ {
		name := fmt.Sprintf("user-%02d", i)
		var att []string
		if i == 0 && a.has("user_direct_policy", "") {
			att = append(att, attached("ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"))
		}
		group := "developers"
		if i == 1 {
			group = "admins"
		}
		entities = append(entities, struct{ kind, xml string }{"user", leaf("Path", "/") + leaf("UserName", name) + leaf("UserId", "AIDA"+s.id("user", a.ID, i)) +
			leaf("Arn", acctARN+"user/"+name) + leaf("CreateDate", s.opts.Now.Add(-days(500))) +
			list("GroupList", "member", []string{esc(group)}) + list("AttachedManagedPolicies", "member", att) + list("UserPolicyList", "member", nil)})
	}
	devPolicy := policyJSON(map[string]any{"Version": "2012-10-17", "Statement": map[string]any{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}})
	entities = append(entities,
		struct{ kind, xml string }{"group", leaf("Path", "/") + leaf("GroupName", "admins") + leaf("GroupId", "AGPA"+s.id("g", a.ID, 1)) + leaf("Arn", acctARN+"group/admins") +
			list("AttachedManagedPolicies", "member", []string{attached("AdministratorAccess", "arn:aws:iam::aws:policy/AdministratorAccess")}) + list("GroupPolicyList", "member", nil)},
		struct{ kind, xml string }{"group", leaf("Path", "/") + leaf("GroupName", "developers") + leaf("GroupId", "AGPA"+s.id("g", a.ID, 2)) + leaf("Arn", acctARN+"group/developers") +
			list("AttachedManagedPolicies", "member", nil) + list("GroupPolicyList", "member", []string{leaf("PolicyName", "describe-ec2") + "<PolicyDocument>" + devPolicy + "</PolicyDocument>"})},
		struct{ kind, xml string }{"role", leaf("Path", "/") + leaf("RoleName", RoleName) + leaf("RoleId", "AROA"+s.id("r", a.ID)) + leaf("Arn", acctARN+"role/"+RoleName) +
			list("AttachedManagedPolicies", "member", []string{attached("SecurityAudit", "arn:aws:iam::aws:policy/SecurityAudit")}) + list("RolePolicyList", "member", nil)},
	)
	policies := []struct{ name, doc string }{
		{"read-logs", policyJSON(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:ListBucket"}, "Resource": "arn:aws:s3:::logs-" + a.ID + "/*"}}})},
	}
	if a.has("admin_policy", "") {
		policies = append(policies, struct{ name, doc string }{"legacy-admin", policyJSON(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}}})})
	}
	for _, p := range policies {
		entities = append(entities, struct{ kind, xml string }{"policy", leaf("PolicyName", p.name) + leaf("PolicyId", "ANPA"+s.id("p", a.ID, p.name)) + leaf("Arn", acctARN+"policy/"+p.name) +
			leaf("Path", "/") + leaf("DefaultVersionId", "v1") + leaf("AttachmentCount", 1) + leaf("IsAttachable", true) +
			list("PolicyVersionList", "member", []string{"<Document>" + p.doc + "</Document>" + leaf("VersionId", "v1") + leaf("IsDefaultVersion", true)})})
	}
	start, end, next := s.page(len(entities), c.form.Get("Marker"))
	var users, groups, roles, pols []string
	for _, e := range entities[start:end] {
		switch e.kind {
		case "user":
			users = append(users, e.xml)
		case "group":
			groups = append(groups, e.xml)
		case "role":
			roles = append(roles, e.xml)
		case "policy":
			pols = append(pols, e.xml)
		}
	}
	out := []string{list("UserDetailList", "member", users), list("GroupDetailList", "member", groups), list("RoleDetailList", "member", roles), list("Policies", "member", pols), leaf("IsTruncated", next != "")}
	if next != "" {
		out = append(out, leaf("Marker", next))
	}
	writeQuery(w, c, out...)
}

func (s *Sim) listAccounts(w http.ResponseWriter, c *call) {
	if c.account.idx != 0 {
		s.writeError(w, c, http.StatusBadRequest, "AccessDeniedException", "You don't have permissions to access this resource.")
		return
	}
	start, end, next := s.page(len(s.accounts), c.str("NextToken"))
	var accts []map[string]any
	for _, a := range s.accounts[start:end] {
		accts = append(accts, map[string]any{
			"Id": a.ID, "Arn": "arn:aws:organizations::" + s.accounts[0].ID + ":account/o-sim/" + a.ID, "Name": a.Name,
			"Email": a.Name + "@example.com", "Status": "ACTIVE", "State": "ACTIVE", "JoinedMethod": "CREATED",
			"JoinedTimestamp": epoch(s.opts.Now.Add(-days(700))),
		})
	}
	out := map[string]any{"Accounts": accts}
	if next != "" {
		out["NextToken"] = next
	}
	writeJSON(w, c, out)
}

func (s *Sim) describeOrganization(w http.ResponseWriter, c *call) {
	if c.account.has("not_in_organization", "") {
		s.writeError(w, c, http.StatusBadRequest, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
		return
	}
	m := s.accounts[0].ID
	writeJSON(w, c, map[string]any{"Organization": map[string]any{
		"Id": "o-sim" + s.id("org")[:6], "Arn": "arn:aws:organizations::" + m + ":organization/o-sim", "FeatureSet": "ALL",
		"MasterAccountArn": "arn:aws:organizations::" + m + ":account/o-sim/" + m, "MasterAccountId": m, "MasterAccountEmail": "management@example.com",
	}})
}

func (s *Sim) getAlternateContact(w http.ResponseWriter, c *call) {
	if c.account.has("no_security_contact", "") || c.str("AlternateContactType") != "SECURITY" {
		s.writeError(w, c, http.StatusNotFound, "ResourceNotFoundException", "No contact of the inputted alternate contact type found.")
		return
	}
	writeJSON(w, c, map[string]any{"AlternateContact": map[string]any{
		"AlternateContactType": "SECURITY", "EmailAddress": "security@example.com", "Name": "Security Team", "PhoneNumber": "+49 30 1234567", "Title": "CISO",
	}})
}
