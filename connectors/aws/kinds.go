package aws

import (
	"sort"

	"github.com/exhibit-dev/exhibit/core/connector"
)

// kindDef is one artefact kind: one evidence item of the catalogue, per account or per
// account and region. Actions are the IAM actions the connector calls to collect it; the
// read-only policy in deploy/aws is derived from them.
type kindDef struct {
	Name    string
	Title   string
	Scope   string // "account" or "region"
	Actions []string
}

// Scopes of kinds.
const (
	scopeAccount = "account"
	scopeRegion  = "region"
)

var credentialReportActions = []string{"iam:GenerateCredentialReport", "iam:GetCredentialReport"}
var cloudTrailActions = []string{"cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"}

// kinds lists every kind, one per evidence item of the catalogue the connector covers.
// Several kinds may share one document when their items are judged from the same API
// responses (the credential report, DescribeTrails): the document is then stored once and
// each kind carries its own rules.
var kinds = []kindDef{
	{"aws.iam.password_policy", "IAM account password policy", scopeAccount, []string{"iam:GetAccountPasswordPolicy"}},
	{"aws.iam.root_mfa", "Root account MFA", scopeAccount, []string{"iam:GetAccountSummary"}},
	{"aws.iam.root_hardware_mfa", "Root account hardware MFA", scopeAccount, []string{"iam:GetAccountSummary", "iam:ListVirtualMFADevices"}},
	{"aws.iam.root_access_keys", "Root access keys absent", scopeAccount, credentialReportActions},
	{"aws.iam.root_usage", "Root account not used", scopeAccount, credentialReportActions},
	{"aws.iam.user_mfa", "MFA for IAM users with console password", scopeAccount, credentialReportActions},
	{"aws.iam.access_key_rotation", "Access keys rotated", scopeAccount, credentialReportActions},
	{"aws.iam.unused_credentials", "Unused credentials disabled", scopeAccount, credentialReportActions},
	{"aws.iam.user_attached_policies", "Permissions granted via groups/roles only", scopeAccount, []string{"iam:GetAccountAuthorizationDetails"}},
	{"aws.iam.admin_policies", "No full-admin (*:*) customer/inline policies", scopeAccount, []string{"iam:GetAccountAuthorizationDetails"}},
	{"aws.cloudtrail.multi_region_trail", "CloudTrail multi-region trail logging management events", scopeAccount, cloudTrailActions},
	{"aws.cloudtrail.log_file_validation", "CloudTrail log file validation", scopeAccount, cloudTrailActions},
	{"aws.cloudtrail.kms_encryption", "CloudTrail logs encrypted with KMS", scopeAccount, cloudTrailActions},
	{"aws.cloudtrail.cloudwatch_logs", "CloudTrail delivered to CloudWatch Logs", scopeAccount, cloudTrailActions},
	{"aws.cloudtrail.bucket", "CloudTrail bucket not public / access-logged", scopeAccount, append(append([]string{}, cloudTrailActions...),
		"s3:GetBucketLocation", "s3:GetBucketPublicAccessBlock", "s3:GetBucketPolicyStatus", "s3:GetBucketLogging", "s3:GetAccountPublicAccessBlock")},
	{"aws.cloudwatch.security_alarms", "Security-event metric filters and alarms", scopeAccount, append(append([]string{}, cloudTrailActions...),
		"logs:DescribeMetricFilters", "cloudwatch:DescribeAlarms", "sns:ListSubscriptionsByTopic")},
	{"aws.s3.account_public_access_block", "S3 account-level Block Public Access", scopeAccount, []string{"s3:GetAccountPublicAccessBlock"}},
	{"aws.s3.bucket_encryption", "S3 default encryption (SSE-KMS for sensitive buckets)", scopeAccount, []string{"s3:ListAllMyBuckets", "s3:GetEncryptionConfiguration"}},
	{"aws.s3.bucket_tls_policy", "S3 TLS-only bucket policy", scopeAccount, []string{"s3:ListAllMyBuckets", "s3:GetBucketPolicy"}},
	{"aws.s3.bucket_versioning", "S3 versioning / object lock on backup and log buckets", scopeAccount, []string{"s3:ListAllMyBuckets", "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"}},
	{"aws.s3.public_buckets", "S3 buckets not public (policy status, ACLs, bucket and account Block Public Access)", scopeAccount, []string{"s3:ListAllMyBuckets",
		"s3:GetBucketPolicyStatus", "s3:GetBucketPublicAccessBlock", "s3:GetBucketAcl", "s3:GetAccountPublicAccessBlock"}},
	{"aws.organizations.membership", "Account in AWS Organizations", scopeAccount, []string{"organizations:DescribeOrganization"}},
	{"aws.account.security_contact", "Security contact registered", scopeAccount, []string{"account:GetAlternateContact"}},

	{"aws.accessanalyzer.analyzers", "IAM Access Analyzer enabled", scopeRegion, []string{"access-analyzer:ListAnalyzers"}},
	{"aws.logs.retention", "Log retention", scopeRegion, []string{"logs:DescribeLogGroups"}},
	{"aws.config.recorders", "AWS Config recording in all regions", scopeRegion, []string{"config:DescribeConfigurationRecorders", "config:DescribeConfigurationRecorderStatus"}},
	{"aws.guardduty.detectors", "GuardDuty enabled", scopeRegion, []string{"guardduty:ListDetectors", "guardduty:GetDetector"}},
	{"aws.securityhub.hub", "Security Hub enabled with standards", scopeRegion, []string{"securityhub:DescribeHub", "securityhub:GetEnabledStandards"}},
	{"aws.ec2.ebs_encryption", "EBS encryption by default", scopeRegion, []string{"ec2:GetEbsEncryptionByDefault", "ec2:DescribeVolumes"}},
	{"aws.rds.encryption", "RDS encryption at rest", scopeRegion, []string{"rds:DescribeDBInstances", "rds:DescribeDBClusters"}},
	{"aws.rds.backups", "RDS automated backups / Multi-AZ", scopeRegion, []string{"rds:DescribeDBInstances", "rds:DescribeDBClusters"}},
	{"aws.rds.public_access", "RDS instances and snapshots not public", scopeRegion, []string{"rds:DescribeDBInstances", "rds:DescribeDBClusters",
		"rds:DescribeDBSnapshots", "rds:DescribeDBSnapshotAttributes"}},
	{"aws.ec2.public_images", "EBS snapshots and AMIs not public", scopeRegion, []string{"ec2:DescribeSnapshots", "ec2:DescribeImages"}},
	{"aws.backup.plans", "AWS Backup plans and vaults", scopeRegion, []string{"backup:ListBackupPlans", "backup:ListBackupSelections", "backup:ListBackupVaults"}},
	{"aws.kms.key_rotation", "KMS customer key rotation", scopeRegion, []string{"kms:ListKeys", "kms:DescribeKey", "kms:GetKeyRotationStatus"}},
	{"aws.ec2.security_group_admin_ports", "No security group ingress from 0.0.0.0/0 to admin ports", scopeRegion, []string{"ec2:DescribeSecurityGroups"}},
	{"aws.ec2.default_security_groups", "Default security groups restrict all traffic; NACLs", scopeRegion, []string{"ec2:DescribeSecurityGroups", "ec2:DescribeNetworkAcls"}},
	{"aws.ec2.vpc_flow_logs", "VPC flow logs", scopeRegion, []string{"ec2:DescribeVpcs", "ec2:DescribeFlowLogs"}},
	{"aws.inspector2.scanning", "Vulnerability scanning (Inspector2)", scopeRegion, []string{"inspector2:BatchGetAccountStatus"}},
	{"aws.ssm.patch_compliance", "Patch compliance (SSM)", scopeRegion, []string{"ec2:DescribeInstances", "ssm:DescribeInstanceInformation", "ssm:ListResourceComplianceSummaries"}},
	{"aws.ec2.imdsv2", "IMDSv2 enforced", scopeRegion, []string{"ec2:DescribeInstances"}},
	{"aws.acm.certificates", "TLS certificates valid (ACM)", scopeRegion, []string{"acm:ListCertificates", "acm:DescribeCertificate"}},
	{"aws.elbv2.tls_listeners", "TLS policies and HTTPS redirects on load balancers", scopeRegion, []string{"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeListeners"}},
	{"aws.elbv2.access_logs", "Load balancer access logging", scopeRegion, []string{"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes"}},
	{"aws.macie.status", "Data discovery (Macie)", scopeRegion, []string{"macie2:GetMacieSession"}},
	{"aws.secretsmanager.rotation", "Secrets rotation", scopeRegion, []string{"secretsmanager:ListSecrets"}},
}

// targetActions are needed to find the targets, not for one kind: account discovery,
// assuming the read-only role, and the regions enabled per account. The caller's identity
// (sts:GetCallerIdentity) is read too, but AWS documents that it needs no permission, so it
// is not declared.
var targetActions = []string{"sts:AssumeRole", "organizations:ListAccounts", "ec2:DescribeRegions"}

var kindByName = func() map[string]*kindDef {
	m := make(map[string]*kindDef, len(kinds))
	for i := range kinds {
		m[kinds[i].Name] = &kinds[i]
	}
	return m
}()

// connectorKinds returns the kinds in the form the Factory contract wants.
func connectorKinds() []connector.Kind {
	out := make([]connector.Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, connector.Kind{Name: k.Name, Title: k.Title, Scope: k.Scope})
	}
	return out
}

// permissions aggregates the actions of all kinds, sorted by action, each with the kinds
// that need it. Target actions list no kind: every kind needs them.
func permissions() []connector.Permission {
	byAction := map[string][]string{}
	for _, k := range kinds {
		for _, a := range k.Actions {
			byAction[a] = append(byAction[a], k.Name)
		}
	}
	for _, a := range targetActions {
		if _, ok := byAction[a]; !ok {
			byAction[a] = nil
		}
	}
	out := make([]connector.Permission, 0, len(byAction))
	for _, a := range sortedKeys(byAction) {
		ks := byAction[a]
		sort.Strings(ks)
		out = append(out, connector.Permission{System: "aws-iam", Name: a, Kinds: ks})
	}
	return out
}
