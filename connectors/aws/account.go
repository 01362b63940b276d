package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/account"
	accttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// organizationDoc: Member is false when the account belongs to no organisation
// (AWSOrganizationsNotInUseException), which is evidence, not a gap.
type organizationDoc struct {
	Member       bool
	Organization *orgtypes.Organization
}

func collectOrganization(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	out, err := t.clients().organizations().DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	switch {
	case err == nil:
		return t.result(kinds, organizationDoc{Member: true, Organization: out.Organization}, rec.Exchanges(), nil)
	case isCode(err, "AWSOrganizationsNotInUseException"):
		return t.result(kinds, organizationDoc{Member: false}, rec.Exchanges(), nil)
	default:
		return t.result(kinds, nil, rec.Exchanges(), fmt.Errorf("could not describe the organization: %w", err))
	}
}

// securityContactDoc: AlternateContact is absent when none is registered
// (ResourceNotFoundException), which fails the control.
type securityContactDoc struct {
	Exists           bool
	AlternateContact *accttypes.AlternateContact
}

func collectSecurityContact(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	out, err := t.clients().account().GetAlternateContact(ctx, &account.GetAlternateContactInput{AlternateContactType: accttypes.AlternateContactTypeSecurity})
	switch {
	case err == nil:
		return t.result(kinds, securityContactDoc{Exists: true, AlternateContact: out.AlternateContact}, rec.Exchanges(), nil)
	case isCode(err, "ResourceNotFoundException"):
		return t.result(kinds, securityContactDoc{Exists: false}, rec.Exchanges(), nil)
	default:
		return t.result(kinds, nil, rec.Exchanges(), fmt.Errorf("could not get the security contact: %w", err))
	}
}
