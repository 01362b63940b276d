package aws

import (
	"bytes"
	"encoding/json"
	"slices"
)

//go:generate go test . -run TestPolicyFiles -args -update

// Actions the base identity needs in the management (or delegated administrator) account
// to find and enter the target accounts; the read-only role in each target needs the rest.
var collectorOnlyActions = []string{"sts:AssumeRole", "organizations:ListAccounts"}

// ReadOnlyPolicy returns the IAM policy for the role Exhibit assumes in every target account:
// exactly the read actions the declared kinds need (Factory.Permissions), nothing else.
// deploy/aws/exhibit-readonly-policy.json is this output; a test keeps them equal.
func ReadOnlyPolicy() []byte {
	var actions []string
	for _, p := range permissions() {
		if slices.Contains(collectorOnlyActions, p.Name) {
			continue
		}
		actions = append(actions, p.Name)
	}
	return policyJSON([]policyStatement{{Sid: "ExhibitReadOnlyEvidence", Effect: "Allow", Action: actions, Resource: "*"}})
}

// CollectorPolicy returns the IAM policy of the identity Exhibit runs as: assume the
// read-only role in the target accounts and list the organisation's accounts.
func CollectorPolicy(roleName string) []byte {
	return policyJSON([]policyStatement{
		{Sid: "AssumeExhibitReadOnly", Effect: "Allow", Action: []string{"sts:AssumeRole"}, Resource: "arn:aws:iam::*:role/" + roleName},
		{Sid: "DiscoverAccounts", Effect: "Allow", Action: []string{"organizations:ListAccounts"}, Resource: "*"},
	})
}

type policyStatement struct {
	Sid      string
	Effect   string
	Action   []string
	Resource string
}

func policyJSON(st []policyStatement) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Version   string
		Statement []policyStatement
	}{"2012-10-17", st}); err != nil {
		panic(err) // static shapes: cannot fail
	}
	return buf.Bytes()
}
