package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// loadBalancerEntry is an application or network load balancer with its listeners.
type loadBalancerEntry struct {
	LoadBalancerArn  string
	LoadBalancerName string
	Type             elbtypes.LoadBalancerTypeEnum
	Scheme           elbtypes.LoadBalancerSchemeEnum
	Listeners        []elbtypes.Listener              `json:",omitempty"`
	Attributes       []elbtypes.LoadBalancerAttribute `json:",omitempty"`
}

// accessLogsKind is judged from the load balancers' attributes (access_logs.s3.enabled).
const accessLogsKind = "aws.elbv2.access_logs"

// collectLoadBalancers lists the ELBv2 load balancers of the region once, then documents
// the listeners' protocols, TLS policies and default actions (TLS half of the certificates
// item) and, for their own kind, the attributes that say whether access logs are written.
func collectLoadBalancers(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	lctx, rec := connector.Record(ctx)
	client := t.clients().elbv2()
	lbs := []loadBalancerEntry{}
	err := tokenPages(t, "load balancers", func(marker *string) (*string, error) {
		out, err := client.DescribeLoadBalancers(lctx, &elbv2.DescribeLoadBalancersInput{Marker: marker, PageSize: aws.Int32(400)})
		if err != nil {
			return nil, err
		}
		for _, lb := range out.LoadBalancers {
			lbs = append(lbs, loadBalancerEntry{LoadBalancerArn: deref(lb.LoadBalancerArn), LoadBalancerName: deref(lb.LoadBalancerName), Type: lb.Type, Scheme: lb.Scheme})
		}
		return out.NextMarker, nil
	})
	slices.SortFunc(lbs, func(a, b loadBalancerEntry) int { return compare(a.LoadBalancerArn, b.LoadBalancerArn) })
	var out []evidence.Artefact
	for _, kind := range kinds {
		kctx, krec := connector.Record(ctx)
		var doc any
		kerr := err
		if kerr == nil {
			if kind == accessLogsKind {
				doc, kerr = loadBalancerAttributes(kctx, client, lbs)
			} else {
				doc, kerr = loadBalancerListeners(kctx, t, client, lbs)
			}
		}
		out = append(out, t.result([]string{kind}, doc, append(rec.Exchanges(), krec.Exchanges()...), kerr)...)
	}
	return out
}

func loadBalancerListeners(ctx context.Context, t *target, client *elbv2.Client, list []loadBalancerEntry) (any, error) {
	lbs := slices.Clone(list)
	for i := range lbs {
		listeners := []elbtypes.Listener{}
		err := tokenPages(t, "listeners of "+lbs[i].LoadBalancerName, func(marker *string) (*string, error) {
			out, err := client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbs[i].LoadBalancerArn), Marker: marker, PageSize: aws.Int32(400)})
			if err != nil {
				return nil, err
			}
			listeners = append(listeners, out.Listeners...)
			return out.NextMarker, nil
		})
		if err != nil {
			return nil, fmt.Errorf("load balancer %s: %w", lbs[i].LoadBalancerName, err)
		}
		slices.SortFunc(listeners, func(a, b elbtypes.Listener) int { return compare(deref(a.ListenerArn), deref(b.ListenerArn)) })
		lbs[i].Listeners = listeners
	}
	return map[string]any{"LoadBalancers": lbs}, nil
}

func loadBalancerAttributes(ctx context.Context, client *elbv2.Client, list []loadBalancerEntry) (any, error) {
	lbs := slices.Clone(list)
	for i := range lbs {
		out, err := client.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(lbs[i].LoadBalancerArn)})
		if err != nil {
			return nil, fmt.Errorf("could not describe the attributes of load balancer %s: %w", lbs[i].LoadBalancerName, err)
		}
		attrs := slices.Clone(out.Attributes)
		slices.SortFunc(attrs, func(a, b elbtypes.LoadBalancerAttribute) int { return compare(deref(a.Key), deref(b.Key)) })
		lbs[i].Attributes = attrs
	}
	return map[string]any{"LoadBalancers": lbs}, nil
}
