package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

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

func collectTrails(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	doc, err := trails(ctx, t)
	return t.result(kinds, doc, rec.Exchanges(), err)
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
