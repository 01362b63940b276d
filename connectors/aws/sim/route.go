package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

// protocol is how a service encodes requests and responses.
type protocol int

const (
	protoQuery    protocol = iota // awsQuery: form body, XML response (IAM, STS, RDS)
	protoEC2                      // ec2Query
	protoJSON                     // awsJson1_1: X-Amz-Target
	protoRestJSON                 // restJson1: method and path
	protoRestXML                  // restXml: S3, S3 Control
	protoCBOR                     // rpcv2Cbor: CloudWatch
)

// services maps the SigV4 signing name to the protocol and the IAM action prefix.
var services = map[string]struct {
	proto  protocol
	prefix string
}{
	"iam": {protoQuery, "iam"}, "sts": {protoQuery, "sts"}, "rds": {protoQuery, "rds"},
	"ec2": {protoEC2, "ec2"}, "organizations": {protoJSON, "organizations"},
	"cloudtrail": {protoJSON, "cloudtrail"}, "logs": {protoJSON, "logs"},
	"config": {protoJSON, "config"}, "kms": {protoJSON, "kms"}, "ssm": {protoJSON, "ssm"},
	"acm": {protoJSON, "acm"}, "secretsmanager": {protoJSON, "secretsmanager"},
	"access-analyzer": {protoRestJSON, "access-analyzer"}, "guardduty": {protoRestJSON, "guardduty"},
	"securityhub": {protoRestJSON, "securityhub"}, "backup": {protoRestJSON, "backup"},
	"inspector2": {protoRestJSON, "inspector2"}, "macie2": {protoRestJSON, "macie2"},
	"account": {protoRestJSON, "account"}, "s3": {protoRestXML, "s3"},
	"monitoring": {protoCBOR, "cloudwatch"}, "sns": {protoQuery, "sns"},
	"elasticloadbalancing": {protoQuery, "elasticloadbalancing"},
}

// call is one parsed request.
type call struct {
	account *account
	region  string
	service string
	op      string
	proto   protocol
	form    url.Values     // query protocols
	body    map[string]any // JSON protocols
	path    string         // REST protocols: the original path
	query   url.Values     // REST protocols: the original query
	header  http.Header
}

type callKey struct{}

var credentialRe = regexp.MustCompile(`Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/aws4_request`)

// normalize parses the request, answers authentication errors, and rewrites the URL to
// "/<account>/<region>/<service>/<Operation>?<canonical parameters>" before the harness
// sees it, so simkit counts distinct calls and faults can target one API of one account.
func (s *Sim) normalize(w http.ResponseWriter, r *http.Request) {
	m := credentialRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		http.Error(w, "missing SigV4 Authorization", http.StatusForbidden)
		return
	}
	akid, region, svc := m[1], m[2], m[3]
	info, ok := services[svc]
	if !ok {
		http.Error(w, "simulator does not serve service "+svc, http.StatusNotImplemented)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	c := &call{region: region, service: svc, proto: info.proto, header: r.Header, path: r.URL.Path, query: r.URL.Query()}
	acct := s.byKey[akid]
	var canon string
	switch info.proto {
	case protoQuery, protoEC2:
		c.form, _ = url.ParseQuery(string(body))
		c.op = c.form.Get("Action")
		rest := url.Values{}
		for k, v := range c.form {
			if k != "Action" && k != "Version" {
				rest[k] = v
			}
		}
		canon = rest.Encode()
	case protoJSON:
		t := r.Header.Get("X-Amz-Target")
		c.op = t[strings.LastIndex(t, ".")+1:]
		c.body = map[string]any{}
		if len(body) > 0 {
			if err := json.Unmarshal(body, &c.body); err != nil {
				http.Error(w, "bad JSON body", http.StatusBadRequest)
				return
			}
		}
		compact, _ := json.Marshal(c.body)
		canon = url.Values{"body": {string(compact)}}.Encode()
	case protoCBOR:
		// POST /service/<service>/operation/<Operation>, body a CBOR map.
		c.op = r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		c.body = map[string]any{}
		if len(body) > 0 {
			v, err := cbor.Decode(body)
			if err != nil {
				http.Error(w, "bad CBOR body", http.StatusBadRequest)
				return
			}
			if m, ok := fromCBOR(v).(map[string]any); ok {
				c.body = m
			}
		}
		compact, _ := json.Marshal(c.body)
		canon = url.Values{"body": {string(compact)}}.Encode()
	case protoRestJSON, protoRestXML:
		c.body = map[string]any{}
		if len(body) > 0 && info.proto == protoRestJSON {
			_ = json.Unmarshal(body, &c.body)
		}
		if r.URL.Path == "/v20180820/configuration/publicAccessBlock" {
			c.service = "s3control"
		}
		c.op = restOperation(c.service, r.Method, r.URL.Path, r.URL.Query())
		q := url.Values{"path": {r.URL.Path}}
		for k, v := range r.URL.Query() {
			if k != "x-id" {
				q[k] = v
			}
		}
		if len(body) > 0 {
			compact, _ := json.Marshal(c.body)
			q["body"] = []string{string(compact)}
		}
		canon = q.Encode()
	}
	if c.op == "" {
		http.Error(w, "simulator: unknown operation", http.StatusNotImplemented)
		return
	}
	if acct == nil {
		s.writeError(w, c, http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	c.account = acct
	r.URL.Path = "/" + acct.ID + "/" + region + "/" + c.service + "/" + c.op
	r.URL.RawPath = ""
	r.URL.RawQuery = canon
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.harness.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
}

// restOperation names the REST operation of a request.
func restOperation(svc, method, path string, q url.Values) string {
	switch svc {
	case "access-analyzer":
		if method == http.MethodGet && path == "/analyzer" {
			return "ListAnalyzers"
		}
	case "guardduty":
		if method == http.MethodGet && path == "/detector" {
			return "ListDetectors"
		}
		if method == http.MethodGet && strings.HasPrefix(path, "/detector/") && strings.Count(path, "/") == 2 {
			return "GetDetector"
		}
	case "securityhub":
		if method == http.MethodGet && path == "/accounts" {
			return "DescribeHub"
		}
		if method == http.MethodPost && path == "/standards/get" {
			return "GetEnabledStandards"
		}
	case "backup":
		switch {
		case method == http.MethodGet && (path == "/backup/plans" || path == "/backup/plans/"):
			return "ListBackupPlans"
		case method == http.MethodGet && strings.HasPrefix(path, "/backup/plans/") && strings.HasSuffix(strings.TrimSuffix(path, "/"), "/selections"):
			return "ListBackupSelections"
		case method == http.MethodGet && (path == "/backup-vaults" || path == "/backup-vaults/"):
			return "ListBackupVaults"
		}
	case "inspector2":
		if method == http.MethodPost && path == "/status/batch/get" {
			return "BatchGetAccountStatus"
		}
	case "macie2":
		if method == http.MethodGet && path == "/macie" {
			return "GetMacieSession"
		}
	case "account":
		if method == http.MethodPost && path == "/getAlternateContact" {
			return "GetAlternateContact"
		}
	case "s3control":
		if method == http.MethodGet {
			return "GetPublicAccessBlock"
		}
	case "s3":
		if method != http.MethodGet {
			return ""
		}
		if path == "/" {
			return "ListBuckets"
		}
		for sub, op := range map[string]string{"encryption": "GetBucketEncryption", "policy": "GetBucketPolicy", "versioning": "GetBucketVersioning",
			"object-lock": "GetObjectLockConfiguration", "location": "GetBucketLocation", "publicAccessBlock": "GetPublicAccessBlock",
			"policyStatus": "GetBucketPolicyStatus", "logging": "GetBucketLogging", "acl": "GetBucketAcl"} {
			if _, ok := q[sub]; ok {
				return op
			}
		}
	}
	return ""
}

// s3Actions are the S3 operations whose IAM action is named differently.
var s3Actions = map[string]string{
	"ListBuckets": "ListAllMyBuckets", "GetBucketEncryption": "GetEncryptionConfiguration",
	"GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
	"GetPublicAccessBlock":       "GetBucketPublicAccessBlock",
}

// action returns the IAM action AWS authorises for c.
func (c *call) action() string {
	if c.service == "s3control" && c.op == "GetPublicAccessBlock" {
		return "s3:GetAccountPublicAccessBlock"
	}
	if c.service == "s3" || c.service == "s3control" {
		if a, ok := s3Actions[c.op]; ok {
			return "s3:" + a
		}
		return "s3:" + c.op
	}
	return services[c.service].prefix + ":" + c.op
}

type handlerFunc func(s *Sim, w http.ResponseWriter, c *call)

// serve dispatches a normalised request (behind the harness) to its operation.
func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Context().Value(callKey{}).(*call)
	if c == nil {
		http.Error(w, "simulator: request did not pass the normaliser", http.StatusInternalServerError)
		return
	}
	h, ok := handlers[c.service+"."+c.op]
	if !ok {
		s.writeError(w, c, http.StatusBadRequest, "InvalidAction", "The simulator does not implement "+c.service+":"+c.op)
		return
	}
	s.mu.Lock()
	s.actions[c.action()]++
	s.mu.Unlock()
	h(s, w, c)
}

var handlers = map[string]handlerFunc{}

func register(service string, ops map[string]handlerFunc) {
	for op, h := range ops {
		handlers[service+"."+op] = h
	}
}

// FaultPath returns a simkit fault path pattern for an operation ("" matches any) of a
// service (signing name: "iam", "ec2", "s3", "guardduty", ...) in an account and region.
func FaultPath(accountID, region, service, op string) string {
	part := func(s string) string {
		if s == "" {
			return "[^/]+"
		}
		return regexp.QuoteMeta(s)
	}
	return "^/" + part(accountID) + "/" + part(region) + "/" + part(service) + "/" + part(op) + "$"
}

// Deny returns a fault answering op with the service's AccessDenied error, always.
func Deny(accountID, region, service, op string) simkit.Fault {
	code, status := "AccessDeniedException", http.StatusForbidden
	switch protoOf(service) {
	case protoQuery, protoRestXML:
		code = "AccessDenied"
	case protoEC2:
		code = "UnauthorizedOperation"
	}
	return errorFault(accountID, region, service, op, status, code, "User: arn:aws:sts::"+accountID+":assumed-role/"+RoleName+"/exhibit is not authorized to perform this operation", 0)
}

// Throttle returns a fault answering op with the service's throttling error times times.
func Throttle(accountID, region, service, op string, times int) simkit.Fault {
	code, status := "ThrottlingException", http.StatusBadRequest
	switch protoOf(service) {
	case protoQuery, protoCBOR:
		code = "Throttling"
	case protoEC2:
		code, status = "RequestLimitExceeded", http.StatusServiceUnavailable
	case protoRestXML:
		code, status = "SlowDown", http.StatusServiceUnavailable
	case protoRestJSON:
		code, status = "TooManyRequestsException", http.StatusTooManyRequests
	}
	return errorFault(accountID, region, service, op, status, code, "Rate exceeded", times)
}

func protoOf(service string) protocol {
	if service == "s3control" {
		return protoRestXML
	}
	return services[service].proto
}

func errorFault(accountID, region, service, op string, status int, code, msg string, times int) simkit.Fault {
	c := &call{service: service, proto: protoOf(service)}
	rec := &headerRecorder{h: http.Header{}}
	body := c.errorBody(rec, code, msg)
	return simkit.Fault{Path: FaultPath(accountID, region, service, op), Kind: simkit.Custom, Status: status, Header: rec.h, Body: body, Times: times}
}

type headerRecorder struct{ h http.Header }

func (r *headerRecorder) Header() http.Header { return r.h }

// writeError answers c with an AWS error in c's protocol.
func (s *Sim) writeError(w http.ResponseWriter, c *call, status int, code, msg string) {
	body := c.errorBody(w, code, msg)
	w.WriteHeader(status)
	io.WriteString(w, body)
}

type headerer interface{ Header() http.Header }

func (c *call) errorBody(w headerer, code, msg string) string {
	switch c.proto {
	case protoQuery:
		w.Header().Set("Content-Type", "text/xml")
		return `<ErrorResponse><Error><Type>Sender</Type><Code>` + esc(code) + `</Code><Message>` + esc(msg) + `</Message></Error><RequestId>sim-request</RequestId></ErrorResponse>`
	case protoEC2:
		w.Header().Set("Content-Type", "text/xml")
		return `<Response><Errors><Error><Code>` + esc(code) + `</Code><Message>` + esc(msg) + `</Message></Error></Errors><RequestID>sim-request</RequestID></Response>`
	case protoRestXML:
		w.Header().Set("Content-Type", "application/xml")
		if c.service == "s3control" {
			return `<ErrorResponse><Error><Code>` + esc(code) + `</Code><Message>` + esc(msg) + `</Message></Error><RequestId>sim-request</RequestId></ErrorResponse>`
		}
		return `<Error><Code>` + esc(code) + `</Code><Message>` + esc(msg) + `</Message><RequestId>sim-request</RequestId></Error>`
	case protoCBOR:
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		return string(cbor.Encode(cbor.Map{"__type": cbor.String(code), "message": cbor.String(msg)}))
	case protoRestJSON:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", code)
		b, _ := json.Marshal(map[string]string{"message": msg})
		return string(b)
	default:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
		return string(b)
	}
}
