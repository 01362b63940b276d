package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// securityAlarmsDoc is the aws.cloudwatch.security_alarms document, per account: the
// metric filters and metric alarms of every collected region (each with its Region, since
// a filter and its alarm live in the region of the trail's log group) and the
// subscriptions of every SNS topic an alarm notifies, keyed by topic ARN.
//
// TrailLogGroups are the CloudWatch Logs groups the account's trails deliver to: only
// filters on them see the trail's events.
type securityAlarmsDoc struct {
	TrailLogGroups     []trailLogGroup
	MetricFilters      []regionalMetricFilter
	MetricAlarms       []regionalMetricAlarm
	TopicSubscriptions map[string][]snstypes.Subscription
}

type regionalMetricFilter struct {
	Region string
	logtypes.MetricFilter
}

type regionalMetricAlarm struct {
	Region string
	cwtypes.MetricAlarm
}

// trailLogGroup is a log group a trail delivers to, from the trail's
// CloudWatchLogsLogGroupArn (arn:aws:logs:<region>:<account>:log-group:<name>:*).
type trailLogGroup struct {
	TrailARN     string
	Region       string
	LogGroupName string
}

// securityAlarms is collected after the trails (see collectTrails): the filters that count
// are those on the log groups the trails deliver to.
func securityAlarms(ctx context.Context, t *target, trails *trailsDoc) (*securityAlarmsDoc, error) {
	doc := &securityAlarmsDoc{TrailLogGroups: []trailLogGroup{}, MetricFilters: []regionalMetricFilter{}, MetricAlarms: []regionalMetricAlarm{}, TopicSubscriptions: map[string][]snstypes.Subscription{}}
	for _, tr := range trails.Trails {
		parts := strings.SplitN(deref(tr.CloudWatchLogsLogGroupArn), ":", 7)
		if len(parts) >= 7 && parts[5] == "log-group" {
			doc.TrailLogGroups = append(doc.TrailLogGroups, trailLogGroup{TrailARN: deref(tr.TrailARN), Region: parts[3], LogGroupName: strings.TrimSuffix(parts[6], ":*")})
		}
	}
	topics := map[string]string{} // topic ARN → region
	for _, region := range t.regions {
		k := (&target{c: t.c, account: t.account, region: region}).clients()
		logs := k.logs()
		err := tokenPages(t, "metric filters in "+region, func(token *string) (*string, error) {
			out, err := logs.DescribeMetricFilters(ctx, &cloudwatchlogs.DescribeMetricFiltersInput{NextToken: token, Limit: aws.Int32(50)})
			if err != nil {
				return nil, err
			}
			for _, f := range out.MetricFilters {
				doc.MetricFilters = append(doc.MetricFilters, regionalMetricFilter{Region: region, MetricFilter: f})
			}
			return out.NextToken, nil
		})
		if err != nil {
			return nil, err
		}
		cw := k.cloudwatch()
		err = tokenPages(t, "metric alarms in "+region, func(token *string) (*string, error) {
			out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{NextToken: token, MaxRecords: aws.Int32(100),
				AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm}})
			if err != nil {
				return nil, err
			}
			for _, a := range out.MetricAlarms {
				doc.MetricAlarms = append(doc.MetricAlarms, regionalMetricAlarm{Region: region, MetricAlarm: a})
				for _, action := range a.AlarmActions {
					if strings.HasPrefix(action, "arn:aws") && strings.Contains(action, ":sns:") {
						topics[action] = region
					}
				}
			}
			return out.NextToken, nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, arn := range sortedKeys(topics) {
		client := (&target{c: t.c, account: t.account, region: topics[arn]}).clients().sns()
		subs := []snstypes.Subscription{}
		err := tokenPages(t, "subscriptions of "+arn, func(token *string) (*string, error) {
			out, err := client.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(arn), NextToken: token})
			if err != nil {
				return nil, err
			}
			subs = append(subs, out.Subscriptions...)
			return out.NextToken, nil
		})
		if err != nil {
			return nil, fmt.Errorf("alarm topic %s: %w", arn, err)
		}
		slices.SortFunc(subs, func(a, b snstypes.Subscription) int {
			return compare(deref(a.SubscriptionArn), deref(b.SubscriptionArn))
		})
		doc.TopicSubscriptions[arn] = subs
	}
	slices.SortStableFunc(doc.MetricFilters, func(a, b regionalMetricFilter) int {
		return compare(a.Region+"\x00"+deref(a.LogGroupName)+"\x00"+deref(a.FilterName), b.Region+"\x00"+deref(b.LogGroupName)+"\x00"+deref(b.FilterName))
	})
	slices.SortStableFunc(doc.MetricAlarms, func(a, b regionalMetricAlarm) int {
		return compare(a.Region+"\x00"+deref(a.AlarmArn), b.Region+"\x00"+deref(b.AlarmArn))
	})
	return doc, nil
}
