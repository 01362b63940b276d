package sim

import (
	"net/http"
	"strconv"
)

func init() {
	register("elasticloadbalancing", map[string]handlerFunc{"DescribeLoadBalancers": (*Sim).describeLoadBalancers, "DescribeListeners": (*Sim).describeListeners,
		"DescribeLoadBalancerAttributes": (*Sim).describeLoadBalancerAttributes})
}

// describeLoadBalancerAttributes: access logs to a log bucket, off under elb_no_access_logs.
func (s *Sim) describeLoadBalancerAttributes(w http.ResponseWriter, c *call) {
	if c.form.Get("LoadBalancerArn") != s.albARN(c) {
		s.writeError(w, c, http.StatusBadRequest, "LoadBalancerNotFound", "One or more load balancers not found")
		return
	}
	on := !c.account.has("elb_no_access_logs", c.region)
	bucket := ""
	if on {
		bucket = "logs-" + c.account.ID
	}
	attr := func(k, v string) string { return leaf("Key", k) + leaf("Value", v) }
	writeQuery(w, c, list("Attributes", "member", []string{attr("access_logs.s3.enabled", strconv.FormatBool(on)), attr("access_logs.s3.bucket", bucket),
		attr("access_logs.s3.prefix", "elb"), attr("deletion_protection.enabled", "true"), attr("routing.http.drop_invalid_header_fields.enabled", "true")}))
}

func (s *Sim) albARN(c *call) string {
	return "arn:aws:elasticloadbalancing:" + c.region + ":" + c.account.ID + ":loadbalancer/app/web/" + s.id("alb", c.account.ID, c.region)
}

func (s *Sim) describeLoadBalancers(w http.ResponseWriter, c *call) {
	lb := leaf("LoadBalancerArn", s.albARN(c)) + leaf("LoadBalancerName", "web") + leaf("DNSName", "web-"+s.id("dns", c.account.ID, c.region)+"."+c.region+".elb.amazonaws.com") +
		leaf("Scheme", "internet-facing") + leaf("Type", "application") + leaf("VpcId", s.vpcID(c)) + el("State", leaf("Code", "active")) +
		leaf("CreatedTime", s.opts.Now.Add(-days(200))) + leaf("IpAddressType", "ipv4")
	writeQuery(w, c, list("LoadBalancers", "member", []string{lb}))
}

func (s *Sim) describeListeners(w http.ResponseWriter, c *call) {
	if c.form.Get("LoadBalancerArn") != s.albARN(c) {
		s.writeError(w, c, http.StatusBadRequest, "LoadBalancerNotFound", "One or more load balancers not found")
		return
	}
	weak := c.account.has("elb_weak_tls", c.region)
	policy := "ELBSecurityPolicy-TLS13-1-2-2021-06"
	httpAction := leaf("Type", "redirect") + leaf("Order", 1) +
		el("RedirectConfig", leaf("Protocol", "HTTPS"), leaf("Port", "443"), leaf("Host", "#{host}"), leaf("Path", "/#{path}"), leaf("Query", "#{query}"), leaf("StatusCode", "HTTP_301"))
	if weak {
		policy = "ELBSecurityPolicy-2016-08"
		httpAction = leaf("Type", "forward") + leaf("Order", 1) + leaf("TargetGroupArn", "arn:aws:elasticloadbalancing:"+c.region+":"+c.account.ID+":targetgroup/web/"+s.id("tg", c.account.ID))
	}
	lb := s.albARN(c)
	https := leaf("ListenerArn", lb+"/https") + leaf("LoadBalancerArn", lb) + leaf("Port", 443) + leaf("Protocol", "HTTPS") + leaf("SslPolicy", policy) +
		list("Certificates", "member", []string{leaf("CertificateArn", s.certARN(c))}) +
		list("DefaultActions", "member", []string{leaf("Type", "forward") + leaf("Order", 1) + leaf("TargetGroupArn", "arn:aws:elasticloadbalancing:"+c.region+":"+c.account.ID+":targetgroup/web/"+s.id("tg", c.account.ID))})
	http80 := leaf("ListenerArn", lb+"/http") + leaf("LoadBalancerArn", lb) + leaf("Port", 80) + leaf("Protocol", "HTTP") +
		list("DefaultActions", "member", []string{httpAction})
	writeQuery(w, c, list("Listeners", "member", []string{https, http80}))
}
