package aws

import (
	"context"

	"github.com/exhibit-dev/exhibit/evidence"
)

// area is a group of kinds collected together from one service, because their documents
// come from the same API calls. It runs once per account (scope account) or once per
// account and region (scope region).
type area struct {
	name    string
	service string // the rate-limit group (service_concurrency key)
	scope   string
	kinds   []string
	run     func(ctx context.Context, t *target, kinds []string) []evidence.Artefact
}

// areas in the order they are scheduled: the longest call chains first, so the last tasks
// of a collection are short ones and the pool does not idle at the end.
var areas = []*area{
	{"cloudtrail", "cloudtrail", scopeAccount, []string{"aws.cloudtrail.multi_region_trail", "aws.cloudtrail.log_file_validation", "aws.cloudtrail.kms_encryption", "aws.cloudtrail.cloudwatch_logs", "aws.cloudtrail.bucket", "aws.cloudwatch.security_alarms"}, collectTrails},
	{"s3.buckets", "s3", scopeAccount, []string{"aws.s3.bucket_encryption", "aws.s3.bucket_tls_policy", "aws.s3.bucket_versioning", "aws.s3.public_buckets"}, collectBuckets},
	{"iam.credential_report", "iam", scopeAccount, []string{"aws.iam.root_access_keys", "aws.iam.root_usage", "aws.iam.user_mfa", "aws.iam.access_key_rotation", "aws.iam.unused_credentials"}, collectCredentialReport},
	{"iam.authorization_details", "iam", scopeAccount, []string{"aws.iam.user_attached_policies", "aws.iam.admin_policies"}, collectAuthorizationDetails},
	{"kms", "kms", scopeRegion, []string{"aws.kms.key_rotation"}, collectKMS},
	{"acm", "acm", scopeRegion, []string{"aws.acm.certificates"}, collectCertificates},
	{"elbv2", "elasticloadbalancingv2", scopeRegion, []string{"aws.elbv2.tls_listeners", "aws.elbv2.access_logs"}, collectLoadBalancers},
	{"ec2.instances", "ec2", scopeRegion, []string{"aws.ec2.imdsv2", "aws.ssm.patch_compliance"}, collectInstances},
	{"backup", "backup", scopeRegion, []string{"aws.backup.plans"}, collectBackup},
	{"guardduty", "guardduty", scopeRegion, []string{"aws.guardduty.detectors"}, collectDetectors},
	{"ec2.network", "ec2", scopeRegion, []string{"aws.ec2.security_group_admin_ports", "aws.ec2.default_security_groups"}, collectNetwork},
	{"ec2.flow_logs", "ec2", scopeRegion, []string{"aws.ec2.vpc_flow_logs"}, collectFlowLogs},
	{"ec2.ebs", "ec2", scopeRegion, []string{"aws.ec2.ebs_encryption"}, collectEBS},
	{"ec2.public_images", "ec2", scopeRegion, []string{"aws.ec2.public_images"}, collectPublicImages},
	{"securityhub", "securityhub", scopeRegion, []string{"aws.securityhub.hub"}, collectSecurityHub},
	{"config", "configservice", scopeRegion, []string{"aws.config.recorders"}, collectConfigRecorders},
	{"iam.password_policy", "iam", scopeAccount, []string{"aws.iam.password_policy"}, collectPasswordPolicy},
	{"iam.account_summary", "iam", scopeAccount, []string{"aws.iam.root_mfa", "aws.iam.root_hardware_mfa"}, collectAccountSummary},
	{"s3.account_public_access_block", "s3control", scopeAccount, []string{"aws.s3.account_public_access_block"}, collectAccountPublicAccessBlock},
	{"organizations", "organizations", scopeAccount, []string{"aws.organizations.membership"}, collectOrganization},
	{"account", "account", scopeAccount, []string{"aws.account.security_contact"}, collectSecurityContact},
	{"accessanalyzer", "accessanalyzer", scopeRegion, []string{"aws.accessanalyzer.analyzers"}, collectAnalyzers},
	{"logs", "cloudwatchlogs", scopeRegion, []string{"aws.logs.retention"}, collectLogGroups},
	{"rds", "rds", scopeRegion, []string{"aws.rds.encryption", "aws.rds.backups", "aws.rds.public_access"}, collectRDS},
	{"inspector2", "inspector2", scopeRegion, []string{"aws.inspector2.scanning"}, collectInspector},
	{"macie", "macie2", scopeRegion, []string{"aws.macie.status"}, collectMacie},
	{"secretsmanager", "secretsmanager", scopeRegion, []string{"aws.secretsmanager.rotation"}, collectSecrets},
}
