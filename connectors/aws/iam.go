package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// passwordPolicyDoc is the aws.iam.password_policy document. PasswordPolicy is absent
// when the account has none (NoSuchEntity): the default AWS policy then applies, which
// fails every requirement, so "no policy" is evidence of a failing control, not a gap.
type passwordPolicyDoc struct {
	Exists         bool
	PasswordPolicy *iamtypes.PasswordPolicy
}

func collectPasswordPolicy(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	out, err := t.clients().iam().GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	doc := passwordPolicyDoc{}
	switch {
	case err == nil:
		doc = passwordPolicyDoc{Exists: true, PasswordPolicy: out.PasswordPolicy}
	case isCode(err, "NoSuchEntity"):
		err = nil
	default:
		err = fmt.Errorf("could not get the account password policy: %w", err)
	}
	return t.result(kinds, doc, rec.Exchanges(), err)
}

// accountSummaryDoc is the aws.iam.root_mfa document: GetAccountSummary's SummaryMap
// (AccountMFAEnabled, AccountAccessKeysPresent, quotas and counts).
type accountSummaryDoc struct {
	SummaryMap map[string]int32
}

// rootHardwareMFAKind is judged from the summary and the virtual MFA devices: a root user
// with MFA but no virtual device assigned uses a hardware device.
const rootHardwareMFAKind = "aws.iam.root_hardware_mfa"

// rootHardwareMFADoc is the aws.iam.root_hardware_mfa document: the account summary and
// the serial numbers of the virtual MFA devices assigned to the root user.
type rootHardwareMFADoc struct {
	SummaryMap            map[string]int32
	RootVirtualMFADevices []string
}

func collectAccountSummary(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	sctx, rec := connector.Record(ctx)
	client := t.clients().iam()
	out, err := client.GetAccountSummary(sctx, &iam.GetAccountSummaryInput{})
	var doc accountSummaryDoc
	if err == nil {
		doc.SummaryMap = out.SummaryMap
	} else {
		err = fmt.Errorf("could not get the account summary: %w", err)
	}
	var summaryKinds []string
	for _, k := range kinds {
		if k != rootHardwareMFAKind {
			summaryKinds = append(summaryKinds, k)
		}
	}
	arts := t.result(summaryKinds, doc, rec.Exchanges(), err)
	if len(summaryKinds) == len(kinds) {
		return arts
	}
	vctx, vrec := connector.Record(ctx)
	hw := rootHardwareMFADoc{SummaryMap: doc.SummaryMap, RootVirtualMFADevices: []string{}}
	if err == nil {
		err = tokenPages(t, "virtual MFA devices", func(marker *string) (*string, error) {
			out, err := client.ListVirtualMFADevices(vctx, &iam.ListVirtualMFADevicesInput{Marker: marker, AssignmentStatus: iamtypes.AssignmentStatusTypeAssigned})
			if err != nil {
				return nil, err
			}
			for _, d := range out.VirtualMFADevices {
				if d.User != nil && strings.HasSuffix(deref(d.User.Arn), ":root") {
					hw.RootVirtualMFADevices = append(hw.RootVirtualMFADevices, deref(d.SerialNumber))
				}
			}
			if !out.IsTruncated {
				return nil, nil
			}
			return out.Marker, nil
		})
	}
	slices.Sort(hw.RootVirtualMFADevices)
	return append(arts, t.result([]string{rootHardwareMFAKind}, hw, append(rec.Exchanges(), vrec.Exchanges()...), err)...)
}

// authorizationDoc is the aws.iam.user_attached_policies and aws.iam.admin_policies
// document: GetAccountAuthorizationDetails with pages merged, lists sorted by name, and
// every policy document decoded (see policyDocument) into PolicyDocument; the raw
// responses keep the URL-encoded originals.
type authorizationDoc struct {
	Users    []userDetail
	Groups   []groupDetail
	Roles    []roleDetail
	Policies []managedPolicy // customer managed policies, default version only
}

type inlinePolicy struct {
	PolicyName     string
	PolicyDocument any
}

type userDetail struct {
	UserName                string
	Arn                     string
	GroupList               []string
	AttachedManagedPolicies []iamtypes.AttachedPolicy
	UserPolicyList          []inlinePolicy
}

type groupDetail struct {
	GroupName               string
	Arn                     string
	AttachedManagedPolicies []iamtypes.AttachedPolicy
	GroupPolicyList         []inlinePolicy
}

type roleDetail struct {
	RoleName                string
	Arn                     string
	AttachedManagedPolicies []iamtypes.AttachedPolicy
	RolePolicyList          []inlinePolicy
}

type managedPolicy struct {
	PolicyName       string
	Arn              string
	AttachmentCount  int32
	DefaultVersionId string
	PolicyDocument   any
}

func collectAuthorizationDetails(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	doc, err := authorizationDetails(ctx, t)
	return t.result(kinds, doc, rec.Exchanges(), err)
}

func authorizationDetails(ctx context.Context, t *target) (*authorizationDoc, error) {
	client := t.clients().iam()
	g := t.pages()
	var marker *string
	doc := &authorizationDoc{Users: []userDetail{}, Groups: []groupDetail{}, Roles: []roleDetail{}, Policies: []managedPolicy{}}
	inline := func(list []iamtypes.PolicyDetail) ([]inlinePolicy, error) {
		out := []inlinePolicy{}
		for _, p := range list {
			pd, err := policyDocument(deref(p.PolicyDocument))
			if err != nil {
				return nil, fmt.Errorf("inline policy %s: %w", deref(p.PolicyName), err)
			}
			out = append(out, inlinePolicy{PolicyName: deref(p.PolicyName), PolicyDocument: pd})
		}
		slices.SortFunc(out, func(a, b inlinePolicy) int { return compare(a.PolicyName, b.PolicyName) })
		return out, nil
	}
	sortAttached := func(l []iamtypes.AttachedPolicy) []iamtypes.AttachedPolicy {
		l = append([]iamtypes.AttachedPolicy{}, l...)
		slices.SortFunc(l, func(a, b iamtypes.AttachedPolicy) int { return compare(deref(a.PolicyArn), deref(b.PolicyArn)) })
		return l
	}
	for {
		if err := g.Next(deref(marker)); err != nil {
			return nil, fmt.Errorf("could not get the account authorization details: %w", err)
		}
		out, err := client.GetAccountAuthorizationDetails(ctx, &iam.GetAccountAuthorizationDetailsInput{
			Marker: marker,
			Filter: []iamtypes.EntityType{iamtypes.EntityTypeUser, iamtypes.EntityTypeGroup, iamtypes.EntityTypeRole, iamtypes.EntityTypeLocalManagedPolicy},
		})
		if err != nil {
			return nil, fmt.Errorf("could not get the account authorization details: %w", err)
		}
		for _, u := range out.UserDetailList {
			pols, err := inline(u.UserPolicyList)
			if err != nil {
				return nil, fmt.Errorf("user %s: %w", deref(u.UserName), err)
			}
			groups := append([]string{}, u.GroupList...)
			slices.Sort(groups)
			doc.Users = append(doc.Users, userDetail{UserName: deref(u.UserName), Arn: deref(u.Arn), GroupList: groups, AttachedManagedPolicies: sortAttached(u.AttachedManagedPolicies), UserPolicyList: pols})
		}
		for _, gr := range out.GroupDetailList {
			pols, err := inline(gr.GroupPolicyList)
			if err != nil {
				return nil, fmt.Errorf("group %s: %w", deref(gr.GroupName), err)
			}
			doc.Groups = append(doc.Groups, groupDetail{GroupName: deref(gr.GroupName), Arn: deref(gr.Arn), AttachedManagedPolicies: sortAttached(gr.AttachedManagedPolicies), GroupPolicyList: pols})
		}
		for _, r := range out.RoleDetailList {
			pols, err := inline(r.RolePolicyList)
			if err != nil {
				return nil, fmt.Errorf("role %s: %w", deref(r.RoleName), err)
			}
			doc.Roles = append(doc.Roles, roleDetail{RoleName: deref(r.RoleName), Arn: deref(r.Arn), AttachedManagedPolicies: sortAttached(r.AttachedManagedPolicies), RolePolicyList: pols})
		}
		for _, p := range out.Policies {
			mp := managedPolicy{PolicyName: deref(p.PolicyName), Arn: deref(p.Arn), DefaultVersionId: deref(p.DefaultVersionId)}
			if p.AttachmentCount != nil {
				mp.AttachmentCount = *p.AttachmentCount
			}
			for _, v := range p.PolicyVersionList {
				if v.IsDefaultVersion {
					pd, err := policyDocument(deref(v.Document))
					if err != nil {
						return nil, fmt.Errorf("policy %s: %w", mp.PolicyName, err)
					}
					mp.PolicyDocument = pd
				}
			}
			doc.Policies = append(doc.Policies, mp)
		}
		if !out.IsTruncated || deref(out.Marker) == "" {
			break
		}
		marker = out.Marker
	}
	slices.SortFunc(doc.Users, func(a, b userDetail) int { return compare(a.UserName, b.UserName) })
	slices.SortFunc(doc.Groups, func(a, b groupDetail) int { return compare(a.GroupName, b.GroupName) })
	slices.SortFunc(doc.Roles, func(a, b roleDetail) int { return compare(a.RoleName, b.RoleName) })
	slices.SortFunc(doc.Policies, func(a, b managedPolicy) int { return compare(a.Arn, b.Arn) })
	return doc, nil
}
