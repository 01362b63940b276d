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
	Listeners        []elbtypes.Listener
}

// collectLoadBalancers documents the listeners' protocols, TLS policies and default
// actions of every ELBv2 load balancer in the region (TLS half of the certificates item).
func collectLoadBalancers(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().elbv2()
	doc, err := func() (any, error) {
		lbs := []loadBalancerEntry{}
		err := tokenPages(t, "load balancers", func(marker *string) (*string, error) {
			out, err := client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Marker: marker, PageSize: aws.Int32(400)})
			if err != nil {
				return nil, err
			}
			for _, lb := range out.LoadBalancers {
				lbs = append(lbs, loadBalancerEntry{LoadBalancerArn: deref(lb.LoadBalancerArn), LoadBalancerName: deref(lb.LoadBalancerName), Type: lb.Type, Scheme: lb.Scheme})
			}
			return out.NextMarker, nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(lbs, func(a, b loadBalancerEntry) int { return compare(a.LoadBalancerArn, b.LoadBalancerArn) })
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
	}()
	return t.result(kinds, doc, rec.Exchanges(), err)
}
