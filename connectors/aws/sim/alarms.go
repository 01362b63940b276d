package sim

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

func init() {
	register("logs", map[string]handlerFunc{"DescribeMetricFilters": (*Sim).describeMetricFilters})
	register("monitoring", map[string]handlerFunc{"DescribeAlarms": (*Sim).describeAlarms})
	register("sns", map[string]handlerFunc{"ListSubscriptionsByTopic": (*Sim).listSubscriptionsByTopic})
}

// securityFilters are the CIS AWS Foundations 4.1–4.15 metric filters on the trail's log
// group, with the filter patterns the benchmark gives.
var securityFilters = []struct{ name, pattern string }{
	{"unauthorized-api-calls", `{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }`},
	{"console-signin-without-mfa", `{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }`},
	{"root-account-usage", `{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }`},
	{"iam-policy-changes", `{ ($.eventName = DeleteGroupPolicy) || ($.eventName = DeleteRolePolicy) || ($.eventName = DeleteUserPolicy) || ($.eventName = PutGroupPolicy) || ($.eventName = PutRolePolicy) || ($.eventName = PutUserPolicy) || ($.eventName = CreatePolicy) || ($.eventName = DeletePolicy) || ($.eventName = CreatePolicyVersion) || ($.eventName = DeletePolicyVersion) || ($.eventName = AttachRolePolicy) || ($.eventName = DetachRolePolicy) || ($.eventName = AttachUserPolicy) || ($.eventName = DetachUserPolicy) || ($.eventName = AttachGroupPolicy) || ($.eventName = DetachGroupPolicy) }`},
	{"cloudtrail-changes", `{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) || ($.eventName = StopLogging) }`},
	{"console-auth-failures", `{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }`},
	{"cmk-disable-or-deletion", `{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion)) }`},
	{"s3-bucket-policy-changes", `{ ($.eventSource = s3.amazonaws.com) && (($.eventName = PutBucketAcl) || ($.eventName = PutBucketPolicy) || ($.eventName = PutBucketCors) || ($.eventName = PutBucketLifecycle) || ($.eventName = PutBucketReplication) || ($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || ($.eventName = DeleteBucketLifecycle) || ($.eventName = DeleteBucketReplication)) }`},
	{"config-changes", `{ ($.eventSource = config.amazonaws.com) && (($.eventName = StopConfigurationRecorder) || ($.eventName = DeleteDeliveryChannel) || ($.eventName = PutDeliveryChannel) || ($.eventName = PutConfigurationRecorder)) }`},
	{"security-group-changes", `{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }`},
	{"nacl-changes", `{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || ($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || ($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }`},
	{"network-gateway-changes", `{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || ($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || ($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }`},
	{"route-table-changes", `{ ($.eventSource = ec2.amazonaws.com) && (($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable)) }`},
	{"vpc-changes", `{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || ($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || ($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) }`},
	{"organizations-changes", `{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = "AcceptHandshake") || ($.eventName = "AttachPolicy") || ($.eventName = "CreateAccount") || ($.eventName = "CreateOrganizationalUnit") || ($.eventName = "CreatePolicy") || ($.eventName = "DeclineHandshake") || ($.eventName = "DeleteOrganization") || ($.eventName = "DeleteOrganizationalUnit") || ($.eventName = "DeletePolicy") || ($.eventName = "DetachPolicy") || ($.eventName = "DisablePolicyType") || ($.eventName = "EnablePolicyType") || ($.eventName = "InviteAccountToOrganization") || ($.eventName = "LeaveOrganization") || ($.eventName = "MoveAccount") || ($.eventName = "RemoveAccountFromOrganization") || ($.eventName = "UpdatePolicy") || ($.eventName = "UpdateOrganizationalUnit")) }`},
}

// alarmsHere reports whether the account has the CIS filters and alarms in the region:
// only in the home region (where the trail delivers to CloudWatch Logs), and not at all
// with the no_security_alarms defect.
func (s *Sim) alarmsHere(c *call) bool {
	return c.region == s.homeRegion() && !c.account.has("no_security_alarms", "")
}

func (s *Sim) topicARN(c *call) string {
	return "arn:aws:sns:" + s.homeRegion() + ":" + c.account.ID + ":security-alerts"
}

func (s *Sim) describeMetricFilters(w http.ResponseWriter, c *call) {
	items := []map[string]any{}
	if s.alarmsHere(c) {
		for _, f := range securityFilters {
			items = append(items, map[string]any{"filterName": f.name, "filterPattern": f.pattern, "logGroupName": "cloudtrail",
				"creationTime":          s.opts.Now.Add(-days(300)).UnixMilli(),
				"metricTransformations": []any{map[string]any{"metricName": f.name, "metricNamespace": "CISBenchmark", "metricValue": "1"}}})
		}
	}
	s.jsonPage(w, c, "metricFilters", "nextToken", "nextToken", items)
}

func (s *Sim) describeAlarms(w http.ResponseWriter, c *call) {
	items := []map[string]any{}
	if s.alarmsHere(c) {
		for _, f := range securityFilters {
			items = append(items, map[string]any{
				"AlarmName": f.name, "AlarmArn": "arn:aws:cloudwatch:" + c.region + ":" + c.account.ID + ":alarm:" + f.name,
				"ActionsEnabled": true, "AlarmActions": []any{s.topicARN(c)}, "OKActions": []any{}, "InsufficientDataActions": []any{},
				"StateValue": "OK", "MetricName": f.name, "Namespace": "CISBenchmark", "Statistic": "Sum", "Period": 300,
				"EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
				"StateUpdatedTimestamp": s.opts.Now.Add(-days(2)),
			})
		}
	}
	start, end, next := s.page(len(items), c.str("NextToken"))
	out := map[string]any{"MetricAlarms": toAny(items[start:end]), "CompositeAlarms": []any{}}
	if next != "" {
		out["NextToken"] = next
	}
	writeCBOR(w, out)
}

func (s *Sim) listSubscriptionsByTopic(w http.ResponseWriter, c *call) {
	arn := c.form.Get("TopicArn")
	var subs []string
	if arn == s.topicARN(c) {
		subs = append(subs, leaf("TopicArn", arn)+leaf("Protocol", "email")+leaf("SubscriptionArn", arn+":"+s.id("sub", c.account.ID))+
			leaf("Owner", c.account.ID)+leaf("Endpoint", "security@example.com"),
			// an unconfirmed subscription: SNS lists it with SubscriptionArn PendingConfirmation
			leaf("TopicArn", arn)+leaf("Protocol", "email")+leaf("SubscriptionArn", "PendingConfirmation")+
				leaf("Owner", c.account.ID)+leaf("Endpoint", "oncall@example.com"))
	}
	writeQuery(w, c, list("Subscriptions", "member", subs))
}

func toAny(items []map[string]any) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

// writeCBOR answers an rpcv2Cbor operation.
func writeCBOR(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Write(encodeCBOR(v))
}

// encodeCBOR encodes v with map keys in sorted order. smithy's encoder writes maps in Go's
// random map order, which would give the same answer different bytes on every call, and
// unchanged evidence would no longer deduplicate.
func encodeCBOR(v any) []byte {
	switch t := v.(type) {
	case []any:
		b := cborHeader(4, len(t))
		for _, x := range t {
			b = append(b, encodeCBOR(x)...)
		}
		return b
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b := cborHeader(5, len(t))
		for _, k := range keys {
			b = append(b, cbor.Encode(cbor.String(k))...)
			b = append(b, encodeCBOR(t[k])...)
		}
		return b
	default:
		return cbor.Encode(toCBOR(v))
	}
}

// cborHeader returns the head of a CBOR data item of a major type with a length.
func cborHeader(major byte, n int) []byte {
	m := major << 5
	switch {
	case n < 24:
		return []byte{m | byte(n)}
	case n < 1<<8:
		return []byte{m | 24, byte(n)}
	case n < 1<<16:
		return []byte{m | 25, byte(n >> 8), byte(n)}
	default:
		return []byte{m | 26, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
}

// toCBOR converts JSON-like Go values; timestamps become tag 1 (epoch seconds).
func toCBOR(v any) cbor.Value {
	switch t := v.(type) {
	case nil:
		return &cbor.Nil{}
	case string:
		return cbor.String(t)
	case bool:
		return cbor.Bool(t)
	case int:
		if t < 0 {
			return cbor.NegInt(uint64(-t))
		}
		return cbor.Uint(uint64(t))
	case float64:
		return cbor.Float64(t)
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.UnixMilli()) / 1000)}
	case []any:
		l := make(cbor.List, len(t))
		for i, x := range t {
			l[i] = toCBOR(x)
		}
		return l
	case map[string]any:
		m := make(cbor.Map, len(t))
		for k, x := range t {
			m[k] = toCBOR(x)
		}
		return m
	default:
		panic(fmt.Sprintf("sim: cannot encode %T as CBOR", v))
	}
}

// fromCBOR converts a decoded request body to JSON-like Go values.
func fromCBOR(v cbor.Value) any {
	switch t := v.(type) {
	case cbor.String:
		return string(t)
	case cbor.Bool:
		return bool(t)
	case cbor.Uint:
		return float64(t)
	case cbor.NegInt:
		return -float64(t)
	case cbor.Float64:
		return float64(t)
	case cbor.Float32:
		return float64(t)
	case cbor.List:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = fromCBOR(x)
		}
		return out
	case cbor.Map:
		out := map[string]any{}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out[k] = fromCBOR(t[k])
		}
		return out
	case *cbor.Tag:
		return fromCBOR(t.Value)
	default:
		return math.NaN()
	}
}
