package sim

import (
	"fmt"
	"net/http"
)

func init() {
	register("ec2", map[string]handlerFunc{
		"DescribeRegions":           (*Sim).describeRegions,
		"GetEbsEncryptionByDefault": (*Sim).getEbsEncryptionByDefault,
		"DescribeVolumes":           (*Sim).describeVolumes,
		"DescribeSecurityGroups":    (*Sim).describeSecurityGroups,
		"DescribeNetworkAcls":       (*Sim).describeNetworkAcls,
		"DescribeVpcs":              (*Sim).describeVpcs,
		"DescribeFlowLogs":          (*Sim).describeFlowLogs,
		"DescribeInstances":         (*Sim).describeInstances,
		"DescribeSnapshots":         (*Sim).describeSnapshots,
		"DescribeImages":            (*Sim).describeImages,
	})
}

// describeSnapshots: a private snapshot, and a public one under the ebs_snapshot_public
// defect. Restorable by "all" lists only public snapshots, as EC2 does.
func (s *Sim) describeSnapshots(w http.ResponseWriter, c *call) {
	snap := func(id string) string {
		return leaf("snapshotId", id) + leaf("volumeId", "vol-"+s.id("vol", c.account.ID, c.region, 0)[:12]) + leaf("status", "completed") +
			leaf("startTime", s.opts.Now.Add(-days(20))) + leaf("ownerId", c.account.ID) + leaf("volumeSize", 8) + leaf("encrypted", true)
	}
	var items []string
	if c.form.Get("RestorableBy.1") != "all" {
		items = append(items, snap("snap-"+s.id("snap", c.account.ID, c.region)))
	}
	if c.account.has("ebs_snapshot_public", c.region) {
		items = append(items, snap("snap-"+s.id("pubsnap", c.account.ID, c.region)))
	}
	s.ec2Page(w, c, "snapshotSet", items)
}

// describeImages lists the account's AMI, public under the ebs_snapshot_public defect.
func (s *Sim) describeImages(w http.ResponseWriter, c *call) {
	img := leaf("imageId", "ami-"+s.id("ami", c.account.ID, c.region)) + leaf("imageLocation", c.account.ID+"/golden-image") +
		leaf("imageState", "available") + leaf("imageOwnerId", c.account.ID) + leaf("isPublic", c.account.has("ebs_snapshot_public", c.region)) +
		leaf("name", "golden-image") + leaf("imageType", "machine") + leaf("architecture", "x86_64")
	s.ec2Page(w, c, "imagesSet", []string{img})
}

// OptInRegion is listed by DescribeRegions but not enabled in any account.
const OptInRegion = "me-south-1"

func (s *Sim) describeRegions(w http.ResponseWriter, c *call) {
	var items []string
	for _, r := range s.opts.Regions {
		items = append(items, leaf("regionName", r)+leaf("regionEndpoint", "ec2."+r+".amazonaws.com")+leaf("optInStatus", "opt-in-not-required"))
	}
	if c.form.Get("AllRegions") == "true" {
		items = append(items, leaf("regionName", OptInRegion)+leaf("regionEndpoint", "ec2."+OptInRegion+".amazonaws.com")+leaf("optInStatus", "not-opted-in"))
	}
	writeEC2(w, c, list("regionInfo", "item", items))
}

// ec2Page writes one page of items under setName.
func (s *Sim) ec2Page(w http.ResponseWriter, c *call, setName string, items []string) {
	start, end, next := s.page(len(items), c.form.Get("NextToken"))
	out := []string{list(setName, "item", items[start:end])}
	if next != "" {
		out = append(out, leaf("nextToken", next))
	}
	writeEC2(w, c, out...)
}

func (s *Sim) vpcID(c *call) string { return "vpc-" + s.id("vpc", c.account.ID, c.region) }

func (s *Sim) getEbsEncryptionByDefault(w http.ResponseWriter, c *call) {
	writeEC2(w, c, leaf("ebsEncryptionByDefault", !c.account.has("ebs_unencrypted", c.region)), leaf("sseType", "sse-ebs"))
}

func (s *Sim) describeVolumes(w http.ResponseWriter, c *call) {
	var items []string
	for i := 0; i < s.opts.Volumes; i++ {
		enc := !(i == 0 && c.account.has("ebs_unencrypted", c.region))
		items = append(items, leaf("volumeId", "vol-"+s.id("vol", c.account.ID, c.region, i))+leaf("size", 100)+
			leaf("availabilityZone", c.region+"a")+leaf("status", "in-use")+leaf("createTime", s.opts.Now.Add(-days(90)))+
			leaf("volumeType", "gp3")+leaf("encrypted", enc))
	}
	s.ec2Page(w, c, "volumeSet", items)
}

func ipPerm(proto string, from, to int, cidrs ...string) string {
	var ranges []string
	for _, cidr := range cidrs {
		ranges = append(ranges, leaf("cidrIp", cidr))
	}
	p := leaf("ipProtocol", proto)
	if proto != "-1" {
		p += leaf("fromPort", from) + leaf("toPort", to)
	}
	return p + list("ipRanges", "item", ranges) + list("ipv6Ranges", "item", nil)
}

func (s *Sim) describeSecurityGroups(w http.ResponseWriter, c *call) {
	a, vpc := c.account, s.vpcID(c)
	sg := func(i int, name string, in, out []string) string {
		return leaf("ownerId", a.ID) + leaf("groupName", name) + leaf("groupId", "sg-"+s.id("sg", a.ID, c.region, i)) +
			leaf("groupDescription", name+" security group") + leaf("vpcId", vpc) +
			list("ipPermissions", "item", in) + list("ipPermissionsEgress", "item", out)
	}
	var defIn, defOut []string
	if a.has("default_sg_open", c.region) {
		defIn = []string{ipPerm("-1", 0, 0, "0.0.0.0/0")}
		defOut = []string{ipPerm("-1", 0, 0, "0.0.0.0/0")}
	}
	webIn := []string{ipPerm("tcp", 443, 443, "0.0.0.0/0")}
	if a.has("sg_ssh_open", c.region) {
		webIn = append(webIn, ipPerm("tcp", 22, 22, "0.0.0.0/0"))
	}
	items := []string{sg(0, "default", defIn, defOut), sg(1, "web", webIn, []string{ipPerm("-1", 0, 0, "0.0.0.0/0")})}
	for i := 2; i < s.opts.SecurityGroups; i++ {
		items = append(items, sg(i, fmt.Sprintf("app-%02d", i), []string{ipPerm("tcp", 22, 22, "10.0.0.0/8")}, []string{ipPerm("-1", 0, 0, "0.0.0.0/0")}))
	}
	s.ec2Page(w, c, "securityGroupInfo", items)
}

func (s *Sim) describeNetworkAcls(w http.ResponseWriter, c *call) {
	entry := func(n int, proto, action string, egress bool, cidr string, from, to int) string {
		e := leaf("ruleNumber", n) + leaf("protocol", proto) + leaf("ruleAction", action) + leaf("egress", egress) + leaf("cidrBlock", cidr)
		if proto != "-1" {
			e += el("portRange", leaf("from", from), leaf("to", to))
		}
		return e
	}
	in := entry(100, "6", "allow", false, "0.0.0.0/0", 443, 443)
	if c.account.has("default_sg_open", c.region) {
		in = entry(100, "-1", "allow", false, "0.0.0.0/0", 0, 0)
	}
	entries := []string{in, entry(32767, "-1", "deny", false, "0.0.0.0/0", 0, 0), entry(100, "-1", "allow", true, "0.0.0.0/0", 0, 0), entry(32767, "-1", "deny", true, "0.0.0.0/0", 0, 0)}
	item := leaf("networkAclId", "acl-"+s.id("acl", c.account.ID, c.region)) + leaf("vpcId", s.vpcID(c)) + leaf("default", true) +
		list("entrySet", "item", entries) + leaf("ownerId", c.account.ID)
	s.ec2Page(w, c, "networkAclSet", []string{item})
}

func (s *Sim) describeVpcs(w http.ResponseWriter, c *call) {
	item := leaf("vpcId", s.vpcID(c)) + leaf("state", "available") + leaf("cidrBlock", "10.0.0.0/16") + leaf("isDefault", false) + leaf("ownerId", c.account.ID)
	s.ec2Page(w, c, "vpcSet", []string{item})
}

func (s *Sim) describeFlowLogs(w http.ResponseWriter, c *call) {
	var items []string
	if !c.account.has("no_flow_logs", c.region) {
		items = append(items, leaf("flowLogId", "fl-"+s.id("fl", c.account.ID, c.region))+leaf("resourceId", s.vpcID(c))+
			leaf("flowLogStatus", "ACTIVE")+leaf("deliverLogsStatus", "SUCCESS")+leaf("trafficType", "ALL")+
			leaf("logDestinationType", "cloud-watch-logs")+leaf("logGroupName", "/vpc/flow-logs")+leaf("creationTime", s.opts.Now.Add(-days(300))))
	}
	s.ec2Page(w, c, "flowLogSet", items)
}

func (s *Sim) instanceID(c *call, i int) string { return "i-" + s.id("i", c.account.ID, c.region, i) }

func (s *Sim) describeInstances(w http.ResponseWriter, c *call) {
	var items []string
	for i := 0; i < s.opts.Instances; i++ {
		tokens := "required"
		if i == 0 && c.account.has("imdsv1", c.region) {
			tokens = "optional"
		}
		inst := leaf("instanceId", s.instanceID(c, i)) + leaf("imageId", "ami-"+s.id("ami", c.region)) +
			el("instanceState", leaf("code", 16), leaf("name", "running")) + leaf("instanceType", "t3.medium") +
			leaf("launchTime", s.opts.Now.Add(-days(20))) + leaf("vpcId", s.vpcID(c)) +
			el("metadataOptions", leaf("state", "applied"), leaf("httpTokens", tokens), leaf("httpPutResponseHopLimit", 2), leaf("httpEndpoint", "enabled"))
		items = append(items, leaf("reservationId", "r-"+s.id("r", c.account.ID, c.region, i))+leaf("ownerId", c.account.ID)+
			list("instancesSet", "item", []string{inst}))
	}
	s.ec2Page(w, c, "reservationSet", items)
}
