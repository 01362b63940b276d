package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	s3ctypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// trailsDoc is the document of the CloudTrail kinds, per account: every trail the account
// sees, once (DescribeTrails includes shadow trails, so a multi-region trail homed in a
// region that is not collected, and an organisation trail seen from a member account, are
// listed), with its status and event selectors asked in the trail's home region.
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

// Kinds collected after the trails, from what the trails point at.
const (
	trailBucketKind    = "aws.cloudtrail.bucket"
	securityAlarmsKind = "aws.cloudwatch.security_alarms"
)

func collectTrails(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	tctx, rec := connector.Record(ctx)
	doc, err := trails(tctx, t)
	var trailKinds []string
	for _, k := range kinds {
		if k != trailBucketKind && k != securityAlarmsKind {
			trailKinds = append(trailKinds, k)
		}
	}
	out := t.result(trailKinds, doc, rec.Exchanges(), err)
	for _, k := range kinds {
		if k != trailBucketKind && k != securityAlarmsKind {
			continue
		}
		if err != nil {
			g := t.gap(k, err)
			g.Exchanges = rec.Exchanges()
			out = append(out, g)
			continue
		}
		kctx, krec := connector.Record(ctx)
		var kdoc any
		var shared []evidence.Exchange
		var kerr error
		if k == trailBucketKind {
			kdoc, shared, kerr = trailBuckets(kctx, ctx, t, doc)
		} else {
			kdoc, kerr = securityAlarms(kctx, t, doc)
		}
		exchanges := append(append(rec.Exchanges(), shared...), krec.Exchanges()...)
		out = append(out, t.result([]string{k}, kdoc, exchanges, kerr)...)
	}
	return out
}

// trailBucket is the exposure and access logging of one trail's S3 bucket. Absent
// PublicAccessBlockConfiguration / PolicyStatus / LoggingEnabled mean the bucket has none.
// The document also holds the account's Block Public Access settings, which S3 combines
// with the bucket's (the more restrictive wins).
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
//
// The account's settings are shared with their own kind and asked once (with unrecorded,
// a context without this kind's recorder; their exchanges are returned instead).
// Only the account's own trails are inspected: an organisation trail seen from a member
// account writes to the organisation's log archive, whose bucket is judged where the trail
// is owned.
func trailBuckets(ctx, unrecorded context.Context, t *target, doc *trailsDoc) (any, []evidence.Exchange, error) {
	names := map[string]bool{}
	for _, tr := range doc.Trails {
		if n := deref(tr.S3BucketName); n != "" && arnAccount(deref(tr.TrailARN)) == t.account.ID {
			names[n] = true
		}
	}
	out := []trailBucket{}
	k := t.clients()
	var accountBlock *s3ctypes.PublicAccessBlockConfiguration
	var exchanges []evidence.Exchange
	if len(names) > 0 {
		pab, ex, err := t.account.publicAccessBlock(unrecorded, t)
		if err != nil {
			return nil, nil, err
		}
		accountBlock, exchanges = pab.Configuration, ex
	}
	for _, name := range sortedKeys(names) {
		b := trailBucket{Name: name}
		loc, err := k.s3("").GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(name)})
		if err != nil {
			return nil, nil, fmt.Errorf("could not get the location of trail bucket %s: %w", name, err)
		}
		b.Region = string(loc.LocationConstraint)
		if b.Region == "" {
			b.Region = "us-east-1" // S3 reports the original region as an empty constraint
		}
		client := k.s3(b.Region)
		access := t.account.bucketAccess(unrecorded, t, name, b.Region)
		if access.err != nil {
			return nil, nil, fmt.Errorf("trail bucket: %w", access.err)
		}
		b.PublicAccessBlockConfiguration, b.PolicyStatus = access.block, access.policyStatus
		exchanges = append(exchanges, access.exchanges...)
		lg, err := client.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: aws.String(name)})
		if err != nil {
			return nil, nil, fmt.Errorf("could not get the access logging of trail bucket %s: %w", name, err)
		}
		b.LoggingEnabled = lg.LoggingEnabled
		out = append(out, b)
	}
	return map[string]any{"Buckets": out, "AccountPublicAccessBlockConfiguration": accountBlock}, exchanges, nil
}

// arnAccount returns the account field of an ARN, or "".
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func trails(ctx context.Context, t *target) (*trailsDoc, error) {
	doc := &trailsDoc{Regions: t.regions, Trails: []trailEntry{}}
	k := t.clients()
	seen := map[string]bool{}
	for _, region := range t.regions {
		out, err := k.cloudtrail(region).DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("could not describe trails in %s: %w", region, err)
		}
		for _, tr := range out.TrailList {
			name := deref(tr.TrailARN)
			if name == "" {
				name = deref(tr.Name)
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			// A shadow trail's status and selectors are asked by ARN in its home region.
			home := deref(tr.HomeRegion)
			if home == "" {
				home = region
			}
			client := k.cloudtrail(home)
			st, err := client.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(name)})
			if err != nil {
				return nil, fmt.Errorf("could not get the status of trail %s in %s: %w", name, home, err)
			}
			sel, err := client.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(name)})
			if err != nil {
				return nil, fmt.Errorf("could not get the event selectors of trail %s in %s: %w", name, home, err)
			}
			doc.Trails = append(doc.Trails, trailEntry{Trail: tr, Status: st, EventSelectors: sel.EventSelectors, AdvancedEventSelectors: sel.AdvancedEventSelectors})
		}
	}
	slices.SortFunc(doc.Trails, func(a, b trailEntry) int { return compare(deref(a.TrailARN), deref(b.TrailARN)) })
	return doc, nil
}
