package aws

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	s3ctypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// accountPublicAccessBlockDoc is the aws.s3.account_public_access_block document;
// Configuration is absent when the account has none (NoSuchPublicAccessBlockConfiguration),
// which is evidence that nothing is blocked at account level.
type accountPublicAccessBlockDoc struct {
	Exists        bool
	Configuration *s3ctypes.PublicAccessBlockConfiguration `json:"PublicAccessBlockConfiguration"`
}

func collectAccountPublicAccessBlock(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	doc, exchanges, err := t.account.publicAccessBlock(ctx, t)
	return t.result(kinds, doc, exchanges, err)
}

// publicAccessBlock gets the account's Block Public Access settings once per account: the
// account kind and the trail bucket kind both judge them. ctx must carry no recorder: the
// exchange is returned to each caller.
func (a *targetAccount) publicAccessBlock(ctx context.Context, t *target) (accountPublicAccessBlockDoc, []evidence.Exchange, error) {
	a.pabOnce.Do(func() {
		ctx, rec := connector.Record(ctx)
		out, err := t.clients().s3control().GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: aws.String(a.ID)})
		switch {
		case err == nil:
			a.pab = accountPublicAccessBlockDoc{Exists: true, Configuration: out.PublicAccessBlockConfiguration}
		case isCode(err, "NoSuchPublicAccessBlockConfiguration"):
			err = nil
		default:
			err = fmt.Errorf("could not get the account public access block: %w", err)
		}
		a.pabExchanges, a.pabErr = rec.Exchanges(), err
	})
	return a.pab, a.pabExchanges, a.pabErr
}

// bucketRef is a bucket as ListBuckets returns it.
type bucketRef struct {
	Name         string
	BucketRegion string
	CreationDate *time.Time
}

type bucketEncryption struct {
	bucketRef
	ServerSideEncryptionConfiguration *s3types.ServerSideEncryptionConfiguration
}

type bucketPolicy struct {
	bucketRef
	Policy any // parsed, Statement/Action/Resource as lists; absent without a policy
}

type bucketVersioning struct {
	bucketRef
	Status                  s3types.BucketVersioningStatus `json:",omitempty"`
	MFADelete               s3types.MFADeleteStatus        `json:",omitempty"`
	ObjectLockConfiguration *s3types.ObjectLockConfiguration
}

// collectBuckets lists the buckets once and collects each bucket kind with its own calls,
// so a permission missing for one kind (say s3:GetBucketPolicy) is a gap of that kind only.
func collectBuckets(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	lctx, lrec := connector.Record(ctx)
	buckets, err := listBuckets(lctx, t)
	if err != nil {
		return t.result(kinds, nil, lrec.Exchanges(), err)
	}
	var out []evidence.Artefact
	for _, kind := range kinds {
		kctx, krec := connector.Record(ctx)
		var doc any
		var shared []evidence.Exchange
		var err error
		switch kind {
		case "aws.s3.public_buckets":
			doc, shared, err = bucketExposures(kctx, ctx, t, buckets)
		case "aws.s3.bucket_encryption":
			doc, err = bucketEncryptions(kctx, t, buckets)
		case "aws.s3.bucket_tls_policy":
			doc, err = bucketPolicies(kctx, t, buckets)
		case "aws.s3.bucket_versioning":
			doc, err = bucketVersionings(kctx, t, buckets)
		}
		if ctx.Err() != nil {
			return nil
		}
		exchanges := append(append(lrec.Exchanges(), shared...), krec.Exchanges()...)
		out = append(out, t.result([]string{kind}, doc, exchanges, err)...)
	}
	return out
}

func listBuckets(ctx context.Context, t *target) ([]bucketRef, error) {
	client := t.clients().s3("")
	g := t.pages()
	var token *string
	buckets := []bucketRef{}
	for {
		if err := g.Next(deref(token)); err != nil {
			return nil, fmt.Errorf("could not list buckets: %w", err)
		}
		out, err := client.ListBuckets(ctx, &s3.ListBucketsInput{ContinuationToken: token, MaxBuckets: aws.Int32(1000)})
		if err != nil {
			return nil, fmt.Errorf("could not list buckets: %w", err)
		}
		for _, b := range out.Buckets {
			r := deref(b.BucketRegion)
			if r == "" {
				r = t.account.cfg.Region
			}
			buckets = append(buckets, bucketRef{Name: deref(b.Name), BucketRegion: r, CreationDate: b.CreationDate})
		}
		if deref(out.ContinuationToken) == "" {
			break
		}
		token = out.ContinuationToken
	}
	slices.SortFunc(buckets, func(a, b bucketRef) int { return compare(a.Name, b.Name) })
	return buckets, nil
}

func bucketEncryptions(ctx context.Context, t *target, buckets []bucketRef) (any, error) {
	out := []bucketEncryption{}
	for _, b := range buckets {
		res, err := t.clients().s3(b.BucketRegion).GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(b.Name)})
		e := bucketEncryption{bucketRef: b}
		switch {
		case err == nil:
			e.ServerSideEncryptionConfiguration = res.ServerSideEncryptionConfiguration
		case isCode(err, "ServerSideEncryptionConfigurationNotFoundError"):
		default:
			return nil, fmt.Errorf("could not get the encryption of bucket %s: %w", b.Name, err)
		}
		out = append(out, e)
	}
	return map[string]any{"Buckets": out}, nil
}

func bucketPolicies(ctx context.Context, t *target, buckets []bucketRef) (any, error) {
	out := []bucketPolicy{}
	for _, b := range buckets {
		res, err := t.clients().s3(b.BucketRegion).GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(b.Name)})
		p := bucketPolicy{bucketRef: b}
		switch {
		case err == nil:
			doc, perr := policyDocument(deref(res.Policy))
			if perr != nil {
				return nil, fmt.Errorf("bucket %s: %w", b.Name, perr)
			}
			p.Policy = doc
		case isCode(err, "NoSuchBucketPolicy"):
		default:
			return nil, fmt.Errorf("could not get the policy of bucket %s: %w", b.Name, err)
		}
		out = append(out, p)
	}
	return map[string]any{"Buckets": out}, nil
}

func bucketVersionings(ctx context.Context, t *target, buckets []bucketRef) (any, error) {
	out := []bucketVersioning{}
	for _, b := range buckets {
		client := t.clients().s3(b.BucketRegion)
		res, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.Name)})
		if err != nil {
			return nil, fmt.Errorf("could not get the versioning of bucket %s: %w", b.Name, err)
		}
		v := bucketVersioning{bucketRef: b, Status: res.Status, MFADelete: res.MFADelete}
		lock, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(b.Name)})
		switch {
		case err == nil:
			v.ObjectLockConfiguration = lock.ObjectLockConfiguration
		case isCode(err, "ObjectLockConfigurationNotFoundError"):
		default:
			return nil, fmt.Errorf("could not get the object lock configuration of bucket %s: %w", b.Name, err)
		}
		out = append(out, v)
	}
	return map[string]any{"Buckets": out}, nil
}
