package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// tokenPages follows a NextToken listing under the page guard; fetch returns the next token.
func tokenPages(t *target, what string, fetch func(token *string) (*string, error)) error {
	g := t.pages()
	var token *string
	for {
		if err := g.Next(deref(token)); err != nil {
			return fmt.Errorf("could not list %s: %w", what, err)
		}
		next, err := fetch(token)
		if err != nil {
			return fmt.Errorf("could not list %s: %w", what, err)
		}
		if deref(next) == "" {
			return nil
		}
		token = next
	}
}

func collectLogGroups(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().logs()
	groups := []logtypes.LogGroup{}
	err := tokenPages(t, "log groups", func(token *string) (*string, error) {
		out, err := client.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{NextToken: token, Limit: aws.Int32(50)})
		if err != nil {
			return nil, err
		}
		groups = append(groups, out.LogGroups...)
		return out.NextToken, nil
	})
	slices.SortFunc(groups, func(a, b logtypes.LogGroup) int { return compare(deref(a.LogGroupName), deref(b.LogGroupName)) })
	return t.result(kinds, map[string]any{"LogGroups": groups}, rec.Exchanges(), err)
}

func collectRDS(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().rds()
	dbs := []rdstypes.DBInstance{}
	err := tokenPages(t, "DB instances", func(marker *string) (*string, error) {
		out, err := client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{Marker: marker, MaxRecords: aws.Int32(100)})
		if err != nil {
			return nil, err
		}
		dbs = append(dbs, out.DBInstances...)
		return out.Marker, nil
	})
	slices.SortFunc(dbs, func(a, b rdstypes.DBInstance) int {
		return compare(deref(a.DBInstanceIdentifier), deref(b.DBInstanceIdentifier))
	})
	// Aurora (and Multi-AZ DB cluster) instances are judged by their cluster: its
	// availability zones, not the instance's MultiAZ flag, say whether it survives an AZ.
	clusters := []rdstypes.DBCluster{}
	if err == nil {
		err = tokenPages(t, "DB clusters", func(marker *string) (*string, error) {
			out, err := client.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{Marker: marker, MaxRecords: aws.Int32(100)})
			if err != nil {
				return nil, err
			}
			clusters = append(clusters, out.DBClusters...)
			return out.Marker, nil
		})
	}
	slices.SortFunc(clusters, func(a, b rdstypes.DBCluster) int {
		return compare(deref(a.DBClusterIdentifier), deref(b.DBClusterIdentifier))
	})
	var out []evidence.Artefact
	var shared []string
	for _, k := range kinds {
		if k != rdsPublicKind {
			shared = append(shared, k)
		}
	}
	out = t.result(shared, map[string]any{"DBInstances": dbs, "DBClusters": clusters}, rec.Exchanges(), err)
	if len(shared) == len(kinds) {
		return out
	}
	pctx, prec := connector.Record(ctx)
	var doc any
	if err == nil {
		doc, err = rdsExposure(pctx, t, client, dbs)
	}
	return append(out, t.result([]string{rdsPublicKind}, doc, append(rec.Exchanges(), prec.Exchanges()...), err)...)
}

// rdsPublicKind is judged from the instances and the manual snapshots' attributes.
const rdsPublicKind = "aws.rds.public_access"

// backupPlanEntry is a backup plan with its selections (what it protects).
type backupPlanEntry struct {
	backuptypes.BackupPlansListMember
	Selections []backuptypes.BackupSelectionsListMember
}

func collectBackup(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().backup()
	doc, err := func() (any, error) {
		var plans []backupPlanEntry
		err := tokenPages(t, "backup plans", func(token *string) (*string, error) {
			out, err := client.ListBackupPlans(ctx, &backup.ListBackupPlansInput{NextToken: token})
			if err != nil {
				return nil, err
			}
			for _, p := range out.BackupPlansList {
				plans = append(plans, backupPlanEntry{BackupPlansListMember: p})
			}
			return out.NextToken, nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(plans, func(a, b backupPlanEntry) int { return compare(deref(a.BackupPlanId), deref(b.BackupPlanId)) })
		for i := range plans {
			sel := []backuptypes.BackupSelectionsListMember{}
			err := tokenPages(t, "backup selections", func(token *string) (*string, error) {
				out, err := client.ListBackupSelections(ctx, &backup.ListBackupSelectionsInput{BackupPlanId: plans[i].BackupPlanId, NextToken: token})
				if err != nil {
					return nil, err
				}
				sel = append(sel, out.BackupSelectionsList...)
				return out.NextToken, nil
			})
			if err != nil {
				return nil, err
			}
			slices.SortFunc(sel, func(a, b backuptypes.BackupSelectionsListMember) int {
				return compare(deref(a.SelectionId), deref(b.SelectionId))
			})
			plans[i].Selections = sel
		}
		vaults := []backuptypes.BackupVaultListMember{}
		err = tokenPages(t, "backup vaults", func(token *string) (*string, error) {
			out, err := client.ListBackupVaults(ctx, &backup.ListBackupVaultsInput{NextToken: token})
			if err != nil {
				return nil, err
			}
			vaults = append(vaults, out.BackupVaultList...)
			return out.NextToken, nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(vaults, func(a, b backuptypes.BackupVaultListMember) int {
			return compare(deref(a.BackupVaultArn), deref(b.BackupVaultArn))
		})
		if plans == nil {
			plans = []backupPlanEntry{}
		}
		return map[string]any{"BackupPlans": plans, "BackupVaults": vaults}, nil
	}()
	return t.result(kinds, doc, rec.Exchanges(), err)
}

// kmsKeyEntry is a key's metadata with its rotation status. Only keys that can rotate
// automatically are asked: symmetric customer managed keys with key material from KMS
// (Origin AWS_KMS) outside custom key stores; AWS managed keys rotate by themselves.
// KeyRotationError records a GetKeyRotationStatus that failed for this key (gap status and
// AWS error code): the other keys keep their evidence.
type kmsKeyEntry struct {
	KeyMetadata        *kmstypes.KeyMetadata
	KeyRotationEnabled *bool
	KeyRotationError   string
}

// canRotate reports whether KMS rotates a key automatically when asked to.
func canRotate(m *kmstypes.KeyMetadata) bool {
	return m != nil && m.KeyManager == kmstypes.KeyManagerTypeCustomer && m.KeyState != kmstypes.KeyStatePendingDeletion &&
		m.KeySpec == kmstypes.KeySpecSymmetricDefault && m.Origin == kmstypes.OriginTypeAwsKms && deref(m.CustomKeyStoreId) == ""
}

func collectKMS(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().kms()
	doc, err := func() (any, error) {
		var ids []string
		err := tokenPages(t, "KMS keys", func(marker *string) (*string, error) {
			out, err := client.ListKeys(ctx, &kms.ListKeysInput{Marker: marker, Limit: aws.Int32(1000)})
			if err != nil {
				return nil, err
			}
			for _, k := range out.Keys {
				ids = append(ids, deref(k.KeyId))
			}
			if !out.Truncated {
				return nil, nil
			}
			return out.NextMarker, nil
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(ids)
		keys := []kmsKeyEntry{}
		for _, id := range ids {
			d, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
			if err != nil {
				return nil, fmt.Errorf("could not describe KMS key %s: %w", id, err)
			}
			e := kmsKeyEntry{KeyMetadata: d.KeyMetadata}
			if canRotate(d.KeyMetadata) {
				r, err := client.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(id)})
				switch {
				case err == nil:
					e.KeyRotationEnabled = aws.Bool(r.KeyRotationEnabled)
				case ctx.Err() != nil:
					return nil, err
				default:
					e.KeyRotationError = string(classify(err)) + ": " + errorCode(err)
				}
			}
			keys = append(keys, e)
		}
		return map[string]any{"Keys": keys}, nil
	}()
	return t.result(kinds, doc, rec.Exchanges(), err)
}

func collectCertificates(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().acm()
	doc, err := func() (any, error) {
		var arns []string
		// ListCertificates returns only RSA_2048 certificates unless asked for every key type.
		includes := &acmtypes.Filters{KeyTypes: acmtypes.KeyAlgorithm("").Values()}
		err := tokenPages(t, "certificates", func(token *string) (*string, error) {
			out, err := client.ListCertificates(ctx, &acm.ListCertificatesInput{NextToken: token, Includes: includes, MaxItems: aws.Int32(1000)})
			if err != nil {
				return nil, err
			}
			for _, c := range out.CertificateSummaryList {
				arns = append(arns, deref(c.CertificateArn))
			}
			return out.NextToken, nil
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(arns)
		certs := []*acmtypes.CertificateDetail{}
		for _, arn := range arns {
			d, err := client.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
			if err != nil {
				return nil, fmt.Errorf("could not describe certificate %s: %w", arn, err)
			}
			certs = append(certs, d.Certificate)
		}
		return map[string]any{"Certificates": certs}, nil
	}()
	return t.result(kinds, doc, rec.Exchanges(), err)
}

func collectSecrets(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().secretsmanager()
	secrets := []smtypes.SecretListEntry{}
	err := tokenPages(t, "secrets", func(token *string) (*string, error) {
		out, err := client.ListSecrets(ctx, &secretsmanager.ListSecretsInput{NextToken: token, MaxResults: aws.Int32(100)})
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, out.SecretList...)
		return out.NextToken, nil
	})
	slices.SortFunc(secrets, func(a, b smtypes.SecretListEntry) int { return compare(deref(a.ARN), deref(b.ARN)) })
	return t.result(kinds, map[string]any{"SecretList": secrets}, rec.Exchanges(), err)
}
