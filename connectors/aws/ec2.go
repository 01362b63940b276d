package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// ec2Pages follows an EC2 listing with NextToken pages under the page guard.
func ec2Pages(t *target, what string, fetch func(token *string) (*string, error)) error {
	g := t.pages()
	var token *string
	for {
		if err := g.Next(deref(token)); err != nil {
			return fmt.Errorf("could not describe %s: %w", what, err)
		}
		next, err := fetch(token)
		if err != nil {
			return fmt.Errorf("could not describe %s: %w", what, err)
		}
		if deref(next) == "" {
			return nil
		}
		token = next
	}
}

type ebsDoc struct {
	EbsEncryptionByDefault bool
	Volumes                []ec2types.Volume
}

func collectEBS(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().ec2()
	doc, err := func() (*ebsDoc, error) {
		def, err := client.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
		if err != nil {
			return nil, fmt.Errorf("could not get EBS encryption by default: %w", err)
		}
		d := &ebsDoc{EbsEncryptionByDefault: aws.ToBool(def.EbsEncryptionByDefault), Volumes: []ec2types.Volume{}}
		err = ec2Pages(t, "volumes", func(token *string) (*string, error) {
			out, err := client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{NextToken: token, MaxResults: aws.Int32(500)})
			if err != nil {
				return nil, err
			}
			d.Volumes = append(d.Volumes, out.Volumes...)
			return out.NextToken, nil
		})
		slices.SortFunc(d.Volumes, func(a, b ec2types.Volume) int { return compare(deref(a.VolumeId), deref(b.VolumeId)) })
		return d, err
	}()
	return t.result(kinds, doc, rec.Exchanges(), err)
}

// collectNetwork lists security groups once for both network kinds; the NACLs only for
// the default-security-group kind.
func collectNetwork(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	sctx, srec := connector.Record(ctx)
	client := t.clients().ec2()
	groups := []ec2types.SecurityGroup{}
	err := ec2Pages(t, "security groups", func(token *string) (*string, error) {
		out, err := client.DescribeSecurityGroups(sctx, &ec2.DescribeSecurityGroupsInput{NextToken: token, MaxResults: aws.Int32(1000)})
		if err != nil {
			return nil, err
		}
		groups = append(groups, out.SecurityGroups...)
		return out.NextToken, nil
	})
	if err != nil {
		return t.result(kinds, nil, srec.Exchanges(), err)
	}
	slices.SortFunc(groups, func(a, b ec2types.SecurityGroup) int { return compare(deref(a.GroupId), deref(b.GroupId)) })
	var out []evidence.Artefact
	for _, kind := range kinds {
		switch kind {
		case "aws.ec2.security_group_admin_ports":
			out = append(out, t.ok(kind, map[string]any{"SecurityGroups": groups}, srec.Exchanges()))
		case "aws.ec2.default_security_groups":
			nctx, nrec := connector.Record(ctx)
			acls := []ec2types.NetworkAcl{}
			err := ec2Pages(t, "network ACLs", func(token *string) (*string, error) {
				res, err := client.DescribeNetworkAcls(nctx, &ec2.DescribeNetworkAclsInput{NextToken: token, MaxResults: aws.Int32(1000)})
				if err != nil {
					return nil, err
				}
				acls = append(acls, res.NetworkAcls...)
				return res.NextToken, nil
			})
			slices.SortFunc(acls, func(a, b ec2types.NetworkAcl) int { return compare(deref(a.NetworkAclId), deref(b.NetworkAclId)) })
			var defaults []ec2types.SecurityGroup
			for _, g := range groups {
				if deref(g.GroupName) == "default" {
					defaults = append(defaults, g)
				}
			}
			if defaults == nil {
				defaults = []ec2types.SecurityGroup{}
			}
			doc := map[string]any{"DefaultSecurityGroups": defaults, "NetworkAcls": acls}
			out = append(out, t.result([]string{kind}, doc, append(srec.Exchanges(), nrec.Exchanges()...), err)...)
		}
	}
	return out
}

func collectFlowLogs(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().ec2()
	vpcs := []ec2types.Vpc{}
	logs := []ec2types.FlowLog{}
	err := ec2Pages(t, "VPCs", func(token *string) (*string, error) {
		out, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{NextToken: token, MaxResults: aws.Int32(1000)})
		if err != nil {
			return nil, err
		}
		vpcs = append(vpcs, out.Vpcs...)
		return out.NextToken, nil
	})
	if err == nil {
		err = ec2Pages(t, "flow logs", func(token *string) (*string, error) {
			out, err := client.DescribeFlowLogs(ctx, &ec2.DescribeFlowLogsInput{NextToken: token, MaxResults: aws.Int32(1000)})
			if err != nil {
				return nil, err
			}
			logs = append(logs, out.FlowLogs...)
			return out.NextToken, nil
		})
	}
	slices.SortFunc(vpcs, func(a, b ec2types.Vpc) int { return compare(deref(a.VpcId), deref(b.VpcId)) })
	slices.SortFunc(logs, func(a, b ec2types.FlowLog) int { return compare(deref(a.FlowLogId), deref(b.FlowLogId)) })
	return t.result(kinds, map[string]any{"Vpcs": vpcs, "FlowLogs": logs}, rec.Exchanges(), err)
}

// patchDoc joins the instances with their SSM registration and patch compliance.
type patchDoc struct {
	Instances                      []instanceRef
	InstanceInformationList        []ssmtypes.InstanceInformation
	ResourceComplianceSummaryItems []ssmtypes.ResourceComplianceSummaryItem
}

type instanceRef struct {
	InstanceId string
	State      ec2types.InstanceStateName
}

// collectInstances describes the instances once for IMDSv2 and for patch compliance.
func collectInstances(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ictx, irec := connector.Record(ctx)
	k := t.clients()
	client := k.ec2()
	instances := []ec2types.Instance{}
	err := ec2Pages(t, "instances", func(token *string) (*string, error) {
		out, err := client.DescribeInstances(ictx, &ec2.DescribeInstancesInput{NextToken: token, MaxResults: aws.Int32(1000)})
		if err != nil {
			return nil, err
		}
		for _, r := range out.Reservations {
			instances = append(instances, r.Instances...)
		}
		return out.NextToken, nil
	})
	if err != nil {
		return t.result(kinds, nil, irec.Exchanges(), err)
	}
	slices.SortFunc(instances, func(a, b ec2types.Instance) int { return compare(deref(a.InstanceId), deref(b.InstanceId)) })
	var out []evidence.Artefact
	for _, kind := range kinds {
		switch kind {
		case "aws.ec2.imdsv2":
			out = append(out, t.ok(kind, map[string]any{"Instances": instances}, irec.Exchanges()))
		case "aws.ssm.patch_compliance":
			pctx, prec := connector.Record(ctx)
			doc, err := patchCompliance(pctx, t, k.ssm(), instances)
			out = append(out, t.result([]string{kind}, doc, append(irec.Exchanges(), prec.Exchanges()...), err)...)
		}
	}
	return out
}

func patchCompliance(ctx context.Context, t *target, client *ssm.Client, instances []ec2types.Instance) (*patchDoc, error) {
	d := &patchDoc{Instances: []instanceRef{}, InstanceInformationList: []ssmtypes.InstanceInformation{}, ResourceComplianceSummaryItems: []ssmtypes.ResourceComplianceSummaryItem{}}
	for _, i := range instances {
		ref := instanceRef{InstanceId: deref(i.InstanceId)}
		if i.State != nil {
			ref.State = i.State.Name
		}
		d.Instances = append(d.Instances, ref)
	}
	g := t.pages()
	var token *string
	for {
		if err := g.Next(deref(token)); err != nil {
			return nil, fmt.Errorf("could not describe SSM instance information: %w", err)
		}
		out, err := client.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{NextToken: token, MaxResults: aws.Int32(50)})
		if err != nil {
			return nil, fmt.Errorf("could not describe SSM instance information: %w", err)
		}
		d.InstanceInformationList = append(d.InstanceInformationList, out.InstanceInformationList...)
		if token = out.NextToken; deref(token) == "" {
			break
		}
	}
	g = t.pages()
	token = nil
	for {
		if err := g.Next(deref(token)); err != nil {
			return nil, fmt.Errorf("could not list patch compliance summaries: %w", err)
		}
		out, err := client.ListResourceComplianceSummaries(ctx, &ssm.ListResourceComplianceSummariesInput{
			NextToken: token, MaxResults: aws.Int32(100),
			Filters: []ssmtypes.ComplianceStringFilter{{Key: aws.String("ComplianceType"), Values: []string{"Patch"}, Type: ssmtypes.ComplianceQueryOperatorTypeEqual}},
		})
		if err != nil {
			return nil, fmt.Errorf("could not list patch compliance summaries: %w", err)
		}
		d.ResourceComplianceSummaryItems = append(d.ResourceComplianceSummaryItems, out.ResourceComplianceSummaryItems...)
		if token = out.NextToken; deref(token) == "" {
			break
		}
	}
	slices.SortFunc(d.InstanceInformationList, func(a, b ssmtypes.InstanceInformation) int { return compare(deref(a.InstanceId), deref(b.InstanceId)) })
	slices.SortFunc(d.ResourceComplianceSummaryItems, func(a, b ssmtypes.ResourceComplianceSummaryItem) int {
		return compare(deref(a.ResourceId), deref(b.ResourceId))
	})
	return d, nil
}
