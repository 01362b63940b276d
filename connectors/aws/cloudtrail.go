package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// trailsDoc is the document of the CloudTrail kinds, per account: every trail of the
// account, each listed once in its home region (shadow copies in other regions are left
// out), with its status and event selectors.
type trailsDoc struct {
	Regions []string // the regions searched
	Trails  []trailEntry
}

type trailEntry struct {
	cttypes.Trail
	Status                 *cloudtrail.GetTrailStatusOutput
	EventSelectors         []cttypes.EventSelector
	AdvancedEventSelectors []cttypes.AdvancedEventSelector
}

// trailBucketKind is judged from the trails' S3 buckets, so it is collected after them.
const trailBucketKind = "aws.cloudtrail.bucket"

func collectTrails(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	tctx, rec := connector.Record(ctx)
	doc, err := trails(tctx, t)
	var trailKinds []string
	for _, k := range kinds {
		if k != trailBucketKind {
			trailKinds = append(trailKinds, k)
		}
	}
	out := t.result(trailKinds, doc, rec.Exchanges(), err)
	if len(trailKinds) == len(kinds) {
		return out
	}
	if err != nil {
		return append(out, t.gap(trailBucketKind, err))
	}
	bctx, brec := connector.Record(ctx)
	bdoc, err := trailBuckets(bctx, t, doc)
	return append(out, t.result([]string{trailBucketKind}, bdoc, append(rec.Exchanges(), brec.Exchanges()...), err)...)
}

// trailBucket is the exposure and access logging of one trail's S3 bucket. Absent
// PublicAccessBlockConfiguration / PolicyStatus / LoggingEnabled mean the bucket has none.
type trailBucket struct {
	Name                           string
	Region                         string
	PublicAccessBlockConfiguration *s3types.PublicAccessBlockConfiguration
	PolicyStatus                   *s3types.PolicyStatus
	LoggingEnabled                 *s3types.LoggingEnabled
}

// trailBuckets inspects each distinct trail bucket. A bucket in another account (an
// organisation trail's log archive) answers AccessDenied here: that is a forbidden gap,
// since this account's credentials cannot show the bucket's configuration.
func trailBuckets(ctx context.Context, t *target, doc *trailsDoc) (any, error) {
	names := map[string]bool{}
	for _, tr := range doc.Trails {
		if n := deref(tr.S3BucketName); n != "" {
			names[n] = true
		}
	}
	out := []trailBucket{}
	k := t.clients()
	for _, name := range sortedKeys(names) {
		b := trailBucket{Name: name}
		loc, err := k.s3("").GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("could not get the location of trail bucket %s: %w", name, err)
		}
		b.Region = string(loc.LocationConstraint)
		if b.Region == "" {
			b.Region = "us-east-1" // S3 reports the original region as an empty constraint
		}
		client := k.s3(b.Region)
		pab, err := client.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(name)})
		switch {
		case err == nil:
			b.PublicAccessBlockConfiguration = pab.PublicAccessBlockConfiguration
		case isCode(err, "NoSuchPublicAccessBlockConfiguration"):
		default:
			return nil, fmt.Errorf("could not get the public access block of trail bucket %s: %w", name, err)
		}
		ps, err := client.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: aws.String(name)})
		switch {
		case err == nil:
			b.PolicyStatus = ps.PolicyStatus
		case isCode(err, "NoSuchBucketPolicy"):
		default:
			return nil, fmt.Errorf("could not get the policy status of trail bucket %s: %w", name, err)
		}
		lg, err := client.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("could not get the access logging of trail bucket %s: %w", name, err)
		}
		b.LoggingEnabled = lg.LoggingEnabled
		out = append(out, b)
	}
	return map[string]any{"Buckets": out}, nil
}

func trails(ctx context.Context, t *target) (*trailsDoc, error) {
	doc := &trailsDoc{Regions: t.regions, Trails: []trailEntry{}}
	k := t.clients()
	for _, region := range t.regions {
		client := k.cloudtrail(region)
		out, err := client.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(false)})
		if err != nil {
			return nil, fmt.Errorf("could not describe trails in %s: %w", region, err)
		}
		for _, tr := range out.TrailList {
			if h := deref(tr.HomeRegion); h != "" && h != region {
				continue
			}
			name := deref(tr.TrailARN)
			if name == "" {
				name = deref(tr.Name)
			}
			st, err := client.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(name)})
			if err != nil {
				return nil, fmt.Errorf("could not get the status of trail %s in %s: %w", name, region, err)
			}
			sel, err := client.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(name)})
			if err != nil {
				return nil, fmt.Errorf("could not get the event selectors of trail %s in %s: %w", name, region, err)
			}
			doc.Trails = append(doc.Trails, trailEntry{Trail: tr, Status: st, EventSelectors: sel.EventSelectors, AdvancedEventSelectors: sel.AdvancedEventSelectors})
		}
	}
	slices.SortFunc(doc.Trails, func(a, b trailEntry) int { return compare(deref(a.TrailARN), deref(b.TrailARN)) })
	return doc, nil
}
