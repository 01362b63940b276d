package sim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

func init() {
	register("cloudtrail", map[string]handlerFunc{"DescribeTrails": (*Sim).describeTrails, "GetTrailStatus": (*Sim).getTrailStatus, "GetEventSelectors": (*Sim).getEventSelectors})
	register("logs", map[string]handlerFunc{"DescribeLogGroups": (*Sim).describeLogGroups})
	register("config", map[string]handlerFunc{"DescribeConfigurationRecorders": (*Sim).describeRecorders, "DescribeConfigurationRecorderStatus": (*Sim).describeRecorderStatus})
	register("guardduty", map[string]handlerFunc{"ListDetectors": (*Sim).listDetectors, "GetDetector": (*Sim).getDetector})
	register("securityhub", map[string]handlerFunc{"DescribeHub": (*Sim).describeHub, "GetEnabledStandards": (*Sim).getEnabledStandards})
	register("access-analyzer", map[string]handlerFunc{"ListAnalyzers": (*Sim).listAnalyzers})
	register("rds", map[string]handlerFunc{"DescribeDBInstances": (*Sim).describeDBInstances, "DescribeDBClusters": (*Sim).describeDBClusters,
		"DescribeDBSnapshots": (*Sim).describeDBSnapshots, "DescribeDBSnapshotAttributes": (*Sim).describeDBSnapshotAttributes})
	register("backup", map[string]handlerFunc{"ListBackupPlans": (*Sim).listBackupPlans, "ListBackupSelections": (*Sim).listBackupSelections, "ListBackupVaults": (*Sim).listBackupVaults})
	register("kms", map[string]handlerFunc{"ListKeys": (*Sim).listKeys, "DescribeKey": (*Sim).describeKey, "GetKeyRotationStatus": (*Sim).getKeyRotationStatus})
	register("inspector2", map[string]handlerFunc{"BatchGetAccountStatus": (*Sim).batchGetAccountStatus})
	register("ssm", map[string]handlerFunc{"DescribeInstanceInformation": (*Sim).describeInstanceInformation, "ListResourceComplianceSummaries": (*Sim).listComplianceSummaries})
	register("acm", map[string]handlerFunc{"ListCertificates": (*Sim).listCertificates, "DescribeCertificate": (*Sim).describeCertificate})
	register("macie2", map[string]handlerFunc{"GetMacieSession": (*Sim).getMacieSession})
	register("secretsmanager", map[string]handlerFunc{"ListSecrets": (*Sim).listSecrets})
}

// jsonPage pages items with the token in the body field tokenIn, answering under listKey
// with the next token in tokenOut.
func (s *Sim) jsonPage(w http.ResponseWriter, c *call, listKey, tokenIn, tokenOut string, items []map[string]any) {
	tok := c.str(tokenIn)
	if c.proto == protoRestJSON && tok == "" {
		tok = c.query.Get(tokenIn)
	}
	start, end, next := s.page(len(items), tok)
	out := map[string]any{listKey: append([]map[string]any{}, items[start:end]...)}
	if next != "" {
		out[tokenOut] = next
	}
	writeJSON(w, c, out)
}

func (s *Sim) homeRegion() string { return s.opts.Regions[0] }

func (s *Sim) trailARN(a *account) string {
	return "arn:aws:cloudtrail:" + s.homeRegion() + ":" + a.ID + ":trail/management-events"
}

func (s *Sim) describeTrails(w http.ResponseWriter, c *call) {
	a := c.account
	weak := a.has("weak_trail", "")
	shadows, _ := c.body["includeShadowTrails"].(bool)
	if _, set := c.body["includeShadowTrails"]; !set {
		shadows = true
	}
	trails := []map[string]any{}
	if a.has("org_trail_member", "") {
		// A member account of an organisation trail has no trail of its own; it sees the
		// management account's trail as a shadow trail only.
		if shadows {
			mgmt := s.accounts[0].ID
			trails = append(trails, map[string]any{
				"Name": "organization-trail", "S3BucketName": "org-logs-" + mgmt, "IncludeGlobalServiceEvents": true,
				"IsMultiRegionTrail": true, "HomeRegion": s.homeRegion(), "TrailARN": "arn:aws:cloudtrail:" + s.homeRegion() + ":" + mgmt + ":trail/organization-trail",
				"LogFileValidationEnabled": true, "HasCustomEventSelectors": false, "HasInsightSelectors": false, "IsOrganizationTrail": true,
				"KmsKeyId":                  "arn:aws:kms:" + s.homeRegion() + ":" + mgmt + ":key/" + s.id("orgtrailkey", mgmt),
				"CloudWatchLogsLogGroupArn": "arn:aws:logs:" + s.homeRegion() + ":" + mgmt + ":log-group:org-cloudtrail:*",
				"CloudWatchLogsRoleArn":     "arn:aws:iam::" + mgmt + ":role/CloudTrailToCloudWatch",
			})
		}
		writeJSON(w, c, map[string]any{"trailList": trails})
		return
	}
	if c.region == s.homeRegion() || (shadows && !weak) {
		t := map[string]any{
			"Name": "management-events", "S3BucketName": "logs-" + a.ID, "IncludeGlobalServiceEvents": true,
			"IsMultiRegionTrail": !weak, "HomeRegion": s.homeRegion(), "TrailARN": s.trailARN(a),
			"LogFileValidationEnabled": !weak, "HasCustomEventSelectors": false, "HasInsightSelectors": false, "IsOrganizationTrail": false,
		}
		if !weak {
			t["KmsKeyId"] = "arn:aws:kms:" + s.homeRegion() + ":" + a.ID + ":key/" + s.id("trailkey", a.ID)
			t["CloudWatchLogsLogGroupArn"] = "arn:aws:logs:" + s.homeRegion() + ":" + a.ID + ":log-group:cloudtrail:*"
			t["CloudWatchLogsRoleArn"] = "arn:aws:iam::" + a.ID + ":role/CloudTrailToCloudWatch"
		}
		trails = append(trails, t)
	}
	writeJSON(w, c, map[string]any{"trailList": trails})
}

func (s *Sim) getTrailStatus(w http.ResponseWriter, c *call) {
	weak := c.account.has("weak_trail", "")
	out := map[string]any{
		"IsLogging": !weak, "LatestDeliveryTime": epoch(s.opts.Now.Add(-10 * time.Minute)),
		"StartLoggingTime": epoch(s.opts.Now.Add(-days(400))), "TimeLoggingStarted": s.opts.Now.Add(-days(400)).Format(time.RFC3339),
	}
	if !weak {
		out["LatestCloudWatchLogsDeliveryTime"] = epoch(s.opts.Now.Add(-5 * time.Minute))
	}
	writeJSON(w, c, out)
}

func (s *Sim) getEventSelectors(w http.ResponseWriter, c *call) {
	rw := "All"
	if c.account.has("weak_trail", "") {
		rw = "WriteOnly"
	}
	writeJSON(w, c, map[string]any{"TrailARN": s.trailARN(c.account), "EventSelectors": []any{map[string]any{
		"ReadWriteType": rw, "IncludeManagementEvents": true, "DataResources": []any{}, "ExcludeManagementEventSources": []any{},
	}}})
}

func (s *Sim) describeLogGroups(w http.ResponseWriter, c *call) {
	var items []map[string]any
	for i := 0; i < s.opts.LogGroups; i++ {
		name := fmt.Sprintf("/aws/app-%02d", i)
		g := map[string]any{"logGroupName": name, "arn": "arn:aws:logs:" + c.region + ":" + c.account.ID + ":log-group:" + name + ":*",
			"creationTime": s.opts.Now.Add(-days(100)).UnixMilli(), "storedBytes": 1024 * (i + 1), "metricFilterCount": 0}
		switch {
		case i == 0 && c.account.has("short_log_retention", c.region):
			g["retentionInDays"] = 30
		case i == 2:
			// never expires: no retentionInDays
		default:
			g["retentionInDays"] = 400
		}
		items = append(items, g)
	}
	s.jsonPage(w, c, "logGroups", "nextToken", "nextToken", items)
}

func (s *Sim) describeRecorders(w http.ResponseWriter, c *call) {
	recs := []any{}
	if !c.account.has("no_config_recorder", c.region) {
		recs = append(recs, map[string]any{"name": "default", "roleARN": "arn:aws:iam::" + c.account.ID + ":role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig",
			"recordingGroup": map[string]any{"allSupported": true, "includeGlobalResourceTypes": c.region == s.homeRegion()}})
	}
	writeJSON(w, c, map[string]any{"ConfigurationRecorders": recs})
}

func (s *Sim) describeRecorderStatus(w http.ResponseWriter, c *call) {
	st := []any{}
	if !c.account.has("no_config_recorder", c.region) {
		st = append(st, map[string]any{"name": "default", "recording": true, "lastStatus": "Success", "lastStartTime": epoch(s.opts.Now.Add(-days(300)))})
	}
	writeJSON(w, c, map[string]any{"ConfigurationRecordersStatus": st})
}

func (s *Sim) detectorID(c *call) string {
	return s.id("detector", c.account.ID, c.region) + s.id("d2", c.region)
}

func (s *Sim) listDetectors(w http.ResponseWriter, c *call) {
	ids := []string{}
	if !c.account.has("no_guardduty", c.region) {
		ids = append(ids, s.detectorID(c))
	}
	writeJSON(w, c, map[string]any{"detectorIds": ids})
}

func (s *Sim) getDetector(w http.ResponseWriter, c *call) {
	if c.account.has("no_guardduty", c.region) || !strings.HasSuffix(c.path, "/"+s.detectorID(c)) {
		s.writeError(w, c, http.StatusBadRequest, "BadRequestException", "The request is rejected because the input detectorId is not owned by the current account.")
		return
	}
	writeJSON(w, c, map[string]any{"status": "ENABLED", "findingPublishingFrequency": "SIX_HOURS", "serviceRole": "arn:aws:iam::" + c.account.ID + ":role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty",
		"createdAt": s.opts.Now.Add(-days(300)).Format(time.RFC3339), "updatedAt": s.opts.Now.Add(-days(3)).Format(time.RFC3339)})
}

func (s *Sim) describeHub(w http.ResponseWriter, c *call) {
	if c.account.has("no_securityhub", c.region) {
		s.writeError(w, c, http.StatusUnauthorized, "InvalidAccessException", "Account "+c.account.ID+" is not subscribed to AWS Security Hub")
		return
	}
	writeJSON(w, c, map[string]any{"HubArn": "arn:aws:securityhub:" + c.region + ":" + c.account.ID + ":hub/default",
		"SubscribedAt": s.opts.Now.Add(-days(300)).Format(time.RFC3339), "AutoEnableControls": true, "ControlFindingGenerator": "SECURITY_CONTROL"})
}

func (s *Sim) getEnabledStandards(w http.ResponseWriter, c *call) {
	var subs []map[string]any
	for _, std := range []string{"aws-foundational-security-best-practices/v/1.0.0", "cis-aws-foundations-benchmark/v/1.4.0"} {
		subs = append(subs, map[string]any{
			"StandardsSubscriptionArn": "arn:aws:securityhub:" + c.region + ":" + c.account.ID + ":subscription/" + std,
			"StandardsArn":             "arn:aws:securityhub:" + c.region + "::standards/" + std,
			"StandardsInput":           map[string]any{}, "StandardsStatus": "READY",
		})
	}
	s.jsonPage(w, c, "StandardsSubscriptions", "NextToken", "NextToken", subs)
}

func (s *Sim) listAnalyzers(w http.ResponseWriter, c *call) {
	items := []map[string]any{}
	if !c.account.has("no_analyzer", c.region) {
		items = append(items, map[string]any{"arn": "arn:aws:access-analyzer:" + c.region + ":" + c.account.ID + ":analyzer/account-analyzer",
			"name": "account-analyzer", "type": "ACCOUNT", "status": "ACTIVE", "createdAt": s.opts.Now.Add(-days(200)).Format(time.RFC3339)})
	}
	s.jsonPage(w, c, "analyzers", "nextToken", "nextToken", items)
}

func (s *Sim) describeDBInstances(w http.ResponseWriter, c *call) {
	a := c.account
	enc := !a.has("rds_unencrypted", c.region)
	retention, multiAZ := 7, true
	if a.has("rds_no_backups", c.region) {
		retention, multiAZ = 0, false
	}
	db := leaf("DBInstanceIdentifier", "orders-"+c.region) + leaf("DBInstanceClass", "db.m6g.large") + leaf("Engine", "postgres") +
		leaf("DBInstanceStatus", "available") + leaf("StorageEncrypted", enc) + leaf("BackupRetentionPeriod", retention) +
		leaf("MultiAZ", multiAZ) + leaf("DBInstanceArn", "arn:aws:rds:"+c.region+":"+a.ID+":db:orders-"+c.region) + leaf("PubliclyAccessible", a.has("rds_public", c.region))
	if enc {
		db += leaf("KmsKeyId", "arn:aws:kms:"+c.region+":"+a.ID+":key/"+s.id("rdskey", a.ID, c.region))
	}
	// An Aurora instance reports MultiAZ false: its cluster spans the zones.
	aurora := leaf("DBInstanceIdentifier", "reports-1-"+c.region) + leaf("DBInstanceClass", "db.r6g.large") + leaf("Engine", "aurora-postgresql") +
		leaf("DBInstanceStatus", "available") + leaf("StorageEncrypted", enc) + leaf("BackupRetentionPeriod", max(retention, 1)) +
		leaf("MultiAZ", false) + leaf("DBClusterIdentifier", "reports-"+c.region) +
		leaf("DBInstanceArn", "arn:aws:rds:"+c.region+":"+a.ID+":db:reports-1-"+c.region) + leaf("PubliclyAccessible", false)
	writeQuery(w, c, list("DBInstances", "DBInstance", []string{db, aurora}))
}

// describeDBSnapshots lists one manual snapshot of the orders database.
func (s *Sim) describeDBSnapshots(w http.ResponseWriter, c *call) {
	a := c.account
	snap := leaf("DBSnapshotIdentifier", "orders-before-migration-"+c.region) + leaf("DBInstanceIdentifier", "orders-"+c.region) +
		leaf("SnapshotType", "manual") + leaf("Status", "available") + leaf("Engine", "postgres") +
		leaf("Encrypted", !a.has("rds_unencrypted", c.region)) + leaf("SnapshotCreateTime", s.opts.Now.Add(-days(40))) +
		leaf("DBSnapshotArn", "arn:aws:rds:"+c.region+":"+a.ID+":snapshot:orders-before-migration-"+c.region)
	writeQuery(w, c, list("DBSnapshots", "DBSnapshot", []string{snap}))
}

// describeDBSnapshotAttributes: restore is shared with nobody, or with "all" (public) under
// the rds_public defect.
func (s *Sim) describeDBSnapshotAttributes(w http.ResponseWriter, c *call) {
	values := []string{}
	if c.account.has("rds_public", c.region) {
		values = append(values, "all")
	}
	writeQuery(w, c, el("DBSnapshotAttributesResult", leaf("DBSnapshotIdentifier", c.form.Get("DBSnapshotIdentifier")),
		list("DBSnapshotAttributes", "DBSnapshotAttribute", []string{leaf("AttributeName", "restore") + list("AttributeValues", "AttributeValue", values)})))
}

func (s *Sim) describeDBClusters(w http.ResponseWriter, c *call) {
	a := c.account
	multiAZ := !a.has("rds_no_backups", c.region)
	zones := []string{esc(c.region + "a")}
	if multiAZ {
		zones = append(zones, esc(c.region+"b"))
	}
	cl := leaf("DBClusterIdentifier", "reports-"+c.region) + leaf("Engine", "aurora-postgresql") + leaf("Status", "available") +
		leaf("MultiAZ", multiAZ) + leaf("StorageEncrypted", !a.has("rds_unencrypted", c.region)) + leaf("BackupRetentionPeriod", 7) +
		leaf("DBClusterArn", "arn:aws:rds:"+c.region+":"+a.ID+":cluster:reports-"+c.region) +
		list("AvailabilityZones", "AvailabilityZone", zones) +
		list("DBClusterMembers", "DBClusterMember", []string{leaf("DBInstanceIdentifier", "reports-1-"+c.region) + leaf("IsClusterWriter", true)})
	writeQuery(w, c, list("DBClusters", "DBCluster", []string{cl}))
}

func (s *Sim) planID(c *call) string { return s.id("plan", c.account.ID, c.region) }

func (s *Sim) listBackupPlans(w http.ResponseWriter, c *call) {
	items := []map[string]any{}
	if !c.account.has("no_backup_plan", c.region) {
		items = append(items, map[string]any{"BackupPlanId": s.planID(c), "BackupPlanName": "daily-35d", "VersionId": "v1",
			"BackupPlanArn": "arn:aws:backup:" + c.region + ":" + c.account.ID + ":backup-plan:" + s.planID(c)})
	}
	s.jsonPage(w, c, "BackupPlansList", "nextToken", "NextToken", items)
}

func (s *Sim) listBackupSelections(w http.ResponseWriter, c *call) {
	items := []map[string]any{}
	if !c.account.has("no_backup_plan", c.region) && strings.Contains(c.path, s.planID(c)) {
		items = append(items, map[string]any{"SelectionId": s.id("sel", c.account.ID, c.region), "SelectionName": "tagged-backup", "BackupPlanId": s.planID(c),
			"IamRoleArn": "arn:aws:iam::" + c.account.ID + ":role/service-role/AWSBackupDefaultServiceRole"})
	}
	s.jsonPage(w, c, "BackupSelectionsList", "nextToken", "NextToken", items)
}

func (s *Sim) listBackupVaults(w http.ResponseWriter, c *call) {
	items := []map[string]any{{"BackupVaultName": "Default", "BackupVaultArn": "arn:aws:backup:" + c.region + ":" + c.account.ID + ":backup-vault:Default",
		"NumberOfRecoveryPoints": 42, "Locked": true, "EncryptionKeyArn": "arn:aws:kms:" + c.region + ":" + c.account.ID + ":key/" + s.id("bk", c.account.ID, c.region)}}
	s.jsonPage(w, c, "BackupVaultList", "nextToken", "NextToken", items)
}

// keyIDs: Keys customer managed keys, then one AWS managed key.
func (s *Sim) keyIDs(c *call) []string {
	var ids []string
	for i := 0; i <= s.opts.Keys; i++ {
		h := s.id("kms", c.account.ID, c.region, i)
		ids = append(ids, h[:8]+"-"+h[8:12]+"-4"+h[:3]+"-8"+h[3:6]+"-"+h)
	}
	return ids
}

func (s *Sim) listKeys(w http.ResponseWriter, c *call) {
	ids := s.keyIDs(c)
	start, end, next := s.page(len(ids), c.str("Marker"))
	var keys []map[string]any
	for _, id := range ids[start:end] {
		keys = append(keys, map[string]any{"KeyId": id, "KeyArn": "arn:aws:kms:" + c.region + ":" + c.account.ID + ":key/" + id})
	}
	out := map[string]any{"Keys": keys, "Truncated": next != ""}
	if next != "" {
		out["NextMarker"] = next
	}
	writeJSON(w, c, out)
}

func (s *Sim) keyIndex(c *call) int {
	id := c.str("KeyId")
	for i, k := range s.keyIDs(c) {
		if k == id {
			return i
		}
	}
	return -1
}

func (s *Sim) describeKey(w http.ResponseWriter, c *call) {
	i := s.keyIndex(c)
	if i < 0 {
		s.writeError(w, c, http.StatusBadRequest, "NotFoundException", "Key does not exist")
		return
	}
	id := c.str("KeyId")
	manager, desc := "CUSTOMER", fmt.Sprintf("application key %d", i)
	if i == s.opts.Keys {
		manager, desc = "AWS", "Default key that protects my EBS volumes when no other key is defined"
	}
	writeJSON(w, c, map[string]any{"KeyMetadata": map[string]any{
		"AWSAccountId": c.account.ID, "KeyId": id, "Arn": "arn:aws:kms:" + c.region + ":" + c.account.ID + ":key/" + id,
		"CreationDate": epoch(s.opts.Now.Add(-days(500))), "Enabled": true, "Description": desc, "KeyUsage": "ENCRYPT_DECRYPT",
		"KeyState": "Enabled", "Origin": "AWS_KMS", "KeyManager": manager, "KeySpec": "SYMMETRIC_DEFAULT",
		"CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "EncryptionAlgorithms": []string{"SYMMETRIC_DEFAULT"}, "MultiRegion": false,
	}})
}

func (s *Sim) getKeyRotationStatus(w http.ResponseWriter, c *call) {
	i := s.keyIndex(c)
	if i < 0 {
		s.writeError(w, c, http.StatusBadRequest, "NotFoundException", "Key does not exist")
		return
	}
	enabled := !(i == 0 && c.account.has("kms_no_rotation", c.region))
	out := map[string]any{"KeyRotationEnabled": enabled, "KeyId": c.str("KeyId")}
	if enabled {
		out["RotationPeriodInDays"] = 365
		out["NextRotationDate"] = epoch(s.opts.Now.Add(days(100)))
	}
	writeJSON(w, c, out)
}

func (s *Sim) batchGetAccountStatus(w http.ResponseWriter, c *call) {
	st := "ENABLED"
	if c.account.has("inspector_disabled", c.region) {
		st = "DISABLED"
	}
	res := func() map[string]any { return map[string]any{"status": st} }
	writeJSON(w, c, map[string]any{"accounts": []any{map[string]any{
		"accountId": c.account.ID, "state": res(),
		"resourceState": map[string]any{"ec2": res(), "ecr": res(), "lambda": res(), "lambdaCode": res()},
	}}, "failedAccounts": []any{}})
}

func (s *Sim) describeInstanceInformation(w http.ResponseWriter, c *call) {
	var items []map[string]any
	for i := 0; i < s.opts.Instances; i++ {
		items = append(items, map[string]any{"InstanceId": s.instanceID(c, i), "PingStatus": "Online", "AgentVersion": "3.3.1142.0",
			"IsLatestVersion": true, "PlatformType": "Linux", "PlatformName": "Amazon Linux", "PlatformVersion": "2023", "ResourceType": "EC2Instance"})
	}
	s.jsonPage(w, c, "InstanceInformationList", "NextToken", "NextToken", items)
}

func (s *Sim) listComplianceSummaries(w http.ResponseWriter, c *call) {
	var items []map[string]any
	for i := 0; i < s.opts.Instances; i++ {
		status, sev := "COMPLIANT", "UNSPECIFIED"
		if i == 0 && c.account.has("unpatched_instance", c.region) {
			status, sev = "NON_COMPLIANT", "CRITICAL"
		}
		items = append(items, map[string]any{"ComplianceType": "Patch", "ResourceType": "ManagedInstance", "ResourceId": s.instanceID(c, i),
			"Status": status, "OverallSeverity": sev})
	}
	s.jsonPage(w, c, "ResourceComplianceSummaryItems", "NextToken", "NextToken", items)
}

func (s *Sim) certARN(c *call) string {
	return "arn:aws:acm:" + c.region + ":" + c.account.ID + ":certificate/" + s.id("cert", c.account.ID, c.region)
}

func (s *Sim) listCertificates(w http.ResponseWriter, c *call) {
	items := []map[string]any{{"CertificateArn": s.certARN(c), "DomainName": "www.example.com"}}
	s.jsonPage(w, c, "CertificateSummaryList", "NextToken", "NextToken", items)
}

func (s *Sim) describeCertificate(w http.ResponseWriter, c *call) {
	if c.str("CertificateArn") != s.certARN(c) {
		s.writeError(w, c, http.StatusBadRequest, "ResourceNotFoundException", "Could not find certificate")
		return
	}
	notAfter := s.opts.Now.Add(days(200))
	if c.account.has("certificate_expiring", c.region) {
		notAfter = s.opts.Now.Add(days(3))
	}
	writeJSON(w, c, map[string]any{"Certificate": map[string]any{
		"CertificateArn": s.certARN(c), "DomainName": "www.example.com", "SubjectAlternativeNames": []string{"www.example.com"},
		"Status": "ISSUED", "Type": "AMAZON_ISSUED", "KeyAlgorithm": "RSA_2048", "SignatureAlgorithm": "SHA256WITHRSA",
		"NotBefore": epoch(notAfter.Add(-days(395))), "NotAfter": epoch(notAfter), "InUseBy": []string{"arn:aws:elasticloadbalancing:" + c.region + ":" + c.account.ID + ":loadbalancer/app/web/1"},
		"RenewalEligibility": "ELIGIBLE",
	}})
}

func (s *Sim) getMacieSession(w http.ResponseWriter, c *call) {
	if c.account.has("macie_disabled", c.region) {
		s.writeError(w, c, http.StatusForbidden, "AccessDeniedException", "Macie is not enabled.")
		return
	}
	writeJSON(w, c, map[string]any{"status": "ENABLED", "findingPublishingFrequency": "FIFTEEN_MINUTES",
		"serviceRole": "arn:aws:iam::" + c.account.ID + ":role/aws-service-role/macie.amazonaws.com/AWSServiceRoleForAmazonMacie",
		"createdAt":   s.opts.Now.Add(-days(250)).Format(time.RFC3339), "updatedAt": s.opts.Now.Add(-days(5)).Format(time.RFC3339)})
}

func (s *Sim) listSecrets(w http.ResponseWriter, c *call) {
	var items []map[string]any
	for i := 0; i < s.opts.Secrets; i++ {
		name := fmt.Sprintf("prod/app-%02d/db", i)
		e := map[string]any{"ARN": "arn:aws:secretsmanager:" + c.region + ":" + c.account.ID + ":secret:" + name + "-" + s.id("sec", i)[:6], "Name": name,
			"CreatedDate": epoch(s.opts.Now.Add(-days(400)))}
		if i == 0 && c.account.has("secret_no_rotation", c.region) {
			e["RotationEnabled"] = false
		} else {
			e["RotationEnabled"] = true
			e["RotationRules"] = map[string]any{"AutomaticallyAfterDays": 30}
			e["LastRotatedDate"] = epoch(s.opts.Now.Add(-days(10)))
		}
		items = append(items, e)
	}
	s.jsonPage(w, c, "SecretList", "NextToken", "NextToken", items)
}
