package aws

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// Public exposure: whether buckets, databases, their snapshots, EBS snapshots and AMIs are
// open to anyone. Each document holds what AWS itself says decides it: S3's policy status,
// ACL grants and Block Public Access (bucket and account, the more restrictive wins), RDS's
// PubliclyAccessible and the snapshots' restore attribute, EC2's public flags.

// bucketExposure is one bucket's policy status, ACL grants and Block Public Access. Absent
// PolicyStatus / PublicAccessBlockConfiguration mean the bucket has no policy / no block.
type bucketExposure struct {
	bucketRef
	PolicyStatus                   *s3types.PolicyStatus
	PublicAccessBlockConfiguration *s3types.PublicAccessBlockConfiguration
	Grants                         []s3types.Grant
}

// bucketExposures is the aws.s3.public_buckets document. unrecorded carries no recorder:
// the account's Block Public Access is asked once per account and its exchange returned.
func bucketExposures(ctx, unrecorded context.Context, t *target, buckets []bucketRef) (any, []evidence.Exchange, error) {
	pab, shared, err := t.account.publicAccessBlock(unrecorded, t)
	if err != nil {
		return nil, nil, err
	}
	out := []bucketExposure{}
	for _, b := range buckets {
		client := t.clients().s3(b.BucketRegion)
		e := bucketExposure{bucketRef: b}
		access := t.account.bucketAccess(unrecorded, t, b.Name, b.BucketRegion)
		if access.err != nil {
			return nil, nil, access.err
		}
		e.PolicyStatus, e.PublicAccessBlockConfiguration = access.policyStatus, access.block
		shared = append(shared, access.exchanges...)
		acl, err := client.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String(b.Name)})
		if err != nil {
			return nil, nil, fmt.Errorf("could not get the ACL of bucket %s: %w", b.Name, err)
		}
		e.Grants = acl.Grants
		out = append(out, e)
	}
	return map[string]any{"Buckets": out, "AccountPublicAccessBlockConfiguration": pab.Configuration}, shared, nil
}

// bucketAccess is a bucket's policy status and Block Public Access, asked once per
// collection: the trail bucket kind and the public bucket kind both judge them.
type bucketAccess struct {
	once         sync.Once
	policyStatus *s3types.PolicyStatus
	block        *s3types.PublicAccessBlockConfiguration
	exchanges    []evidence.Exchange
	err          error
}

// bucketAccess returns the bucket's access settings, asking S3 on first use. ctx must carry
// no recorder: the exchanges are returned to each caller.
func (a *targetAccount) bucketAccess(ctx context.Context, t *target, name, region string) *bucketAccess {
	a.bucketsMu.Lock()
	if a.buckets == nil {
		a.buckets = map[string]*bucketAccess{}
	}
	b := a.buckets[name]
	if b == nil {
		b = &bucketAccess{}
		a.buckets[name] = b
	}
	a.bucketsMu.Unlock()
	b.once.Do(func() {
		ctx, rec := connector.Record(ctx)
		defer func() { b.exchanges = rec.Exchanges() }()
		client := t.clients().s3(region)
		ps, err := client.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: aws.String(name)})
		switch {
		case err == nil:
			b.policyStatus = ps.PolicyStatus
		case isCode(err, "NoSuchBucketPolicy"):
		default:
			b.err = fmt.Errorf("could not get the policy status of bucket %s: %w", name, err)
			return
		}
		bp, err := client.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(name)})
		switch {
		case err == nil:
			b.block = bp.PublicAccessBlockConfiguration
		case isCode(err, "NoSuchPublicAccessBlockConfiguration"):
		default:
			b.err = fmt.Errorf("could not get the public access block of bucket %s: %w", name, err)
		}
	})
	return b
}

// dbSnapshotEntry is a manual DB snapshot with its attributes (restore = who may restore it;
// "all" makes it public).
type dbSnapshotEntry struct {
	rdstypes.DBSnapshot
	Attributes []rdstypes.DBSnapshotAttribute
}

// rdsExposure is the aws.rds.public_access document: the instances (PubliclyAccessible)
// and the manual snapshots with their restore attribute. Only manual snapshots can be shared.
func rdsExposure(ctx context.Context, t *target, client *rds.Client, dbs []rdstypes.DBInstance) (any, error) {
	snaps := []dbSnapshotEntry{}
	err := tokenPages(t, "DB snapshots", func(marker *string) (*string, error) {
		out, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{Marker: marker, MaxRecords: aws.Int32(100), SnapshotType: aws.String("manual")})
		if err != nil {
			return nil, err
		}
		for _, s := range out.DBSnapshots {
			snaps = append(snaps, dbSnapshotEntry{DBSnapshot: s})
		}
		return out.Marker, nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(snaps, func(a, b dbSnapshotEntry) int {
		return compare(deref(a.DBSnapshotIdentifier), deref(b.DBSnapshotIdentifier))
	})
	for i := range snaps {
		out, err := client.DescribeDBSnapshotAttributes(ctx, &rds.DescribeDBSnapshotAttributesInput{DBSnapshotIdentifier: snaps[i].DBSnapshotIdentifier})
		if err != nil {
			return nil, fmt.Errorf("could not get the attributes of DB snapshot %s: %w", deref(snaps[i].DBSnapshotIdentifier), err)
		}
		if r := out.DBSnapshotAttributesResult; r != nil {
			snaps[i].Attributes = r.DBSnapshotAttributes
		}
	}
	return map[string]any{"DBInstances": dbs, "DBSnapshots": snaps}, nil
}

// collectPublicImages is aws.ec2.public_images: the account's EBS snapshots that anyone may
// restore (DescribeSnapshots restorable by "all", owned by the account) and its AMIs with
// their Public flag.
func collectPublicImages(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().ec2()
	doc, err := func() (any, error) {
		snaps := []ec2types.Snapshot{}
		err := ec2Pages(t, "public EBS snapshots", func(token *string) (*string, error) {
			out, err := client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{NextToken: token, MaxResults: aws.Int32(1000),
				OwnerIds: []string{"self"}, RestorableByUserIds: []string{"all"}})
			if err != nil {
				return nil, err
			}
			snaps = append(snaps, out.Snapshots...)
			return out.NextToken, nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(snaps, func(a, b ec2types.Snapshot) int { return compare(deref(a.SnapshotId), deref(b.SnapshotId)) })
		images := []ec2types.Image{}
		err = ec2Pages(t, "AMIs", func(token *string) (*string, error) {
			out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{NextToken: token, MaxResults: aws.Int32(1000), Owners: []string{"self"}})
			if err != nil {
				return nil, err
			}
			images = append(images, out.Images...)
			return out.NextToken, nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(images, func(a, b ec2types.Image) int { return compare(deref(a.ImageId), deref(b.ImageId)) })
		return map[string]any{"PublicSnapshots": snaps, "Images": images}, nil
	}()
	return t.result(kinds, doc, rec.Exchanges(), err)
}
