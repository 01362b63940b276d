package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

func init() {
	register("s3", map[string]handlerFunc{
		"ListBuckets": (*Sim).listBuckets, "GetBucketEncryption": (*Sim).getBucketEncryption, "GetBucketPolicy": (*Sim).getBucketPolicy,
		"GetBucketVersioning": (*Sim).getBucketVersioning, "GetObjectLockConfiguration": (*Sim).getObjectLockConfiguration,
		"GetBucketLocation": (*Sim).getBucketLocation, "GetPublicAccessBlock": (*Sim).getBucketPublicAccessBlock,
		"GetBucketPolicyStatus": (*Sim).getBucketPolicyStatus, "GetBucketLogging": (*Sim).getBucketLogging,
		"GetBucketAcl": (*Sim).getBucketAcl,
	})
	register("s3control", map[string]handlerFunc{"GetPublicAccessBlock": (*Sim).getAccountPublicAccessBlock})
}

type bucket struct {
	name, region string
	idx          int
}

// buckets: logs-<account>, backup-<account>, then data buckets, spread over the regions.
func (s *Sim) buckets(a *account) []bucket {
	var out []bucket
	for i := 0; i < s.opts.Buckets; i++ {
		name := fmt.Sprintf("data-%s-%02d", a.ID, i)
		switch i {
		case 0:
			name = "logs-" + a.ID
		case 1:
			name = "backup-" + a.ID
		}
		out = append(out, bucket{name: name, region: s.opts.Regions[i%len(s.opts.Regions)], idx: i})
	}
	return out
}

func (s *Sim) bucket(w http.ResponseWriter, c *call) (bucket, bool) {
	name := strings.Trim(c.path, "/")
	for _, b := range s.buckets(c.account) {
		if b.name == name {
			return b, true
		}
	}
	s.writeError(w, c, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
	return bucket{}, false
}

func (s *Sim) listBuckets(w http.ResponseWriter, c *call) {
	bs := s.buckets(c.account)
	start, end, next := s.page(len(bs), c.query.Get("continuation-token"))
	var items []string
	for _, b := range bs[start:end] {
		items = append(items, leaf("Name", b.name)+leaf("CreationDate", s.opts.Now.Add(-days(600+b.idx)))+leaf("BucketRegion", b.region))
	}
	body := `<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		el("Owner", leaf("ID", s.id("owner", c.account.ID)), leaf("DisplayName", c.account.Name)) +
		list("Buckets", "Bucket", items)
	if next != "" {
		body += leaf("ContinuationToken", next)
	}
	writeXML(w, body+`</ListAllMyBucketsResult>`)
}

// isData reports whether b is the data bucket that carries the account's bucket defects.
func isData(b bucket) bool { return b.idx == 2 }

func (s *Sim) getBucketEncryption(w http.ResponseWriter, c *call) {
	b, ok := s.bucket(w, c)
	if !ok {
		return
	}
	// Every bucket has default encryption since January 2023 (at least SSE-S3); the defect
	// bucket_unencrypted leaves the backup bucket on SSE-S3 where SSE-KMS is expected.
	rule := el("ApplyServerSideEncryptionByDefault", leaf("SSEAlgorithm", "aws:kms"), leaf("KMSMasterKeyID", "arn:aws:kms:"+b.region+":"+c.account.ID+":key/"+s.id("s3key", b.name))) +
		leaf("BucketKeyEnabled", true)
	if b.idx == 1 && c.account.has("bucket_unencrypted", "") {
		rule = el("ApplyServerSideEncryptionByDefault", leaf("SSEAlgorithm", "AES256")) + leaf("BucketKeyEnabled", false)
	}
	writeXML(w, `<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+el("Rule", rule)+`</ServerSideEncryptionConfiguration>`)
}

func (s *Sim) getBucketPolicy(w http.ResponseWriter, c *call) {
	b, ok := s.bucket(w, c)
	if !ok {
		return
	}
	if isData(b) && c.account.has("bucket_no_tls_policy", "") {
		s.writeError(w, c, http.StatusNotFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
		return
	}
	arn := "arn:aws:s3:::" + b.name
	policy := map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
		"Resource":  []string{arn, arn + "/*"},
		"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	}}}
	body, _ := json.Marshal(policy)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, string(body))
}

func (s *Sim) getBucketVersioning(w http.ResponseWriter, c *call) {
	b, ok := s.bucket(w, c)
	if !ok {
		return
	}
	inner := leaf("Status", "Enabled")
	if b.idx == 0 && c.account.has("bucket_unversioned", "") {
		inner = leaf("Status", "Suspended")
	}
	writeXML(w, `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+inner+`</VersioningConfiguration>`)
}

func (s *Sim) getObjectLockConfiguration(w http.ResponseWriter, c *call) {
	b, ok := s.bucket(w, c)
	if !ok {
		return
	}
	if b.idx != 1 {
		s.writeError(w, c, http.StatusNotFound, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")
		return
	}
	writeXML(w, `<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+leaf("ObjectLockEnabled", "Enabled")+
		el("Rule", el("DefaultRetention", leaf("Mode", "COMPLIANCE"), leaf("Days", 365)))+`</ObjectLockConfiguration>`)
}

func (s *Sim) getAccountPublicAccessBlock(w http.ResponseWriter, c *call) {
	if c.header.Get("X-Amz-Account-Id") != c.account.ID {
		s.writeError(w, c, http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	}
	if c.account.has("no_account_public_access_block", "") {
		s.writeError(w, c, http.StatusNotFound, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
		return
	}
	writeXML(w, `<PublicAccessBlockConfiguration xmlns="http://awss3control.amazonaws.com/doc/2018-08-20/">`+
		leaf("BlockPublicAcls", true)+leaf("IgnorePublicAcls", true)+leaf("BlockPublicPolicy", true)+leaf("RestrictPublicBuckets", true)+
		`</PublicAccessBlockConfiguration>`)
}

func (s *Sim) getBucketLocation(w http.ResponseWriter, c *call) {
	b, ok := s.bucket(w, c)
	if !ok {
		return
	}
	region := b.region
	if region == "us-east-1" {
		region = "" // S3 reports its original region as an empty constraint
	}
	writeXML(w, `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+esc(region)+`</LocationConstraint>`)
}

// exposed reports whether b is the trail (logs) bucket of an account with the
// trail_bucket_exposed defect: no public access block, a public policy, no access logging.
func exposed(c *call, b bucket) bool { return b.idx == 0 && c.account.has("trail_bucket_exposed", "") }

func (s *Sim) getBucketPublicAccessBlock(w http.ResponseWriter, c *call) {
	b, ok := s.bucket(w, c)
	if !ok {
		return
	}
	if exposed(c, b) || (isData(b) && c.account.has("bucket_public", "")) {
		s.writeError(w, c, http.StatusNotFound, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
		return
	}
	writeXML(w, `<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+
		leaf("BlockPublicAcls", true)+leaf("IgnorePublicAcls", true)+leaf("BlockPublicPolicy", true)+leaf("RestrictPublicBuckets", true)+
		`</PublicAccessBlockConfiguration>`)
}

func (s *Sim) getBucketPolicyStatus(w http.ResponseWriter, c *call) {
	b, ok := s.bucket(w, c)
	if !ok {
		return
	}
	writeXML(w, `<PolicyStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+leaf("IsPublic", exposed(c, b))+`</PolicyStatus>`)
}

// getBucketAcl answers the owner's full control; the bucket_public defect adds a READ grant
// to everyone (the AllUsers group) on the data bucket.
func (s *Sim) getBucketAcl(w http.ResponseWriter, c *call) {
	b, ok := s.bucket(w, c)
	if !ok {
		return
	}
	owner := s.id("owner", c.account.ID)
	grants := []string{`<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">` + leaf("ID", owner) +
		`</Grantee><Permission>FULL_CONTROL</Permission></Grant>`}
	if isData(b) && c.account.has("bucket_public", "") {
		grants = append(grants, `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">`+
			leaf("URI", "http://acs.amazonaws.com/groups/global/AllUsers")+`</Grantee><Permission>READ</Permission></Grant>`)
	}
	writeXML(w, `<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+el("Owner", leaf("ID", owner))+
		`<AccessControlList>`+strings.Join(grants, "")+`</AccessControlList></AccessControlPolicy>`)
}

func (s *Sim) getBucketLogging(w http.ResponseWriter, c *call) {
	b, ok := s.bucket(w, c)
	if !ok {
		return
	}
	inner := ""
	if !exposed(c, b) {
		inner = el("LoggingEnabled", leaf("TargetBucket", "access-logs-"+c.account.ID), leaf("TargetPrefix", b.name+"/"))
	}
	writeXML(w, `<BucketLoggingStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+inner+`</BucketLoggingStatus>`)
}
