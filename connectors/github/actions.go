package github

import (
	"context"
	"fmt"
	"sort"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// selectedActionsDoc is the allow list when allowed_actions is "selected".
type selectedActionsDoc struct {
	GitHubOwnedAllowed bool     `json:"github_owned_allowed"`
	VerifiedAllowed    bool     `json:"verified_allowed"`
	PatternsAllowed    []string `json:"patterns_allowed"`
}

// actionsPermissions collects github.org.actions_permissions: which repositories may run
// Actions and which actions they may use ("all", "local_only" or "selected" plus the list).
func (col *collector) actionsPermissions(ctx context.Context, org string) evidence.Artefact {
	subject := orgSubject(org)
	ctx, rec := connector.Record(ctx)
	perms, _, err := col.gh.Actions.GetActionsPermissions(ctx, org)
	if err != nil {
		return gap(kindActionsPermissions, subject, fmt.Errorf("could not get the Actions permissions of %s: %w", org, err), rec.Exchanges())
	}
	var selected *selectedActionsDoc
	if perms.GetAllowedActions() == "selected" {
		allowed, _, err := col.gh.Actions.GetActionsAllowed(ctx, org)
		if err != nil {
			return gap(kindActionsPermissions, subject, fmt.Errorf("could not get the allowed actions of %s: %w", org, err), rec.Exchanges())
		}
		selected = &selectedActionsDoc{
			GitHubOwnedAllowed: allowed.GetGithubOwnedAllowed(),
			VerifiedAllowed:    allowed.GetVerifiedAllowed(),
			PatternsAllowed:    append([]string{}, allowed.PatternsAllowed...),
		}
		sort.Strings(selected.PatternsAllowed)
	}
	return document(kindActionsPermissions, subject, struct {
		Organization        string              `json:"organization"`
		EnabledRepositories string              `json:"enabled_repositories"`
		AllowedActions      string              `json:"allowed_actions"`
		SelectedActions     *selectedActionsDoc `json:"selected_actions"`
	}{org, perms.GetEnabledRepositories(), perms.GetAllowedActions(), selected}, rec.Exchanges())
}

// workflowPermissions collects github.org.actions_workflow_permissions: the default
// permissions of GITHUB_TOKEN ("read" or "write") and whether workflows may approve pull
// requests (which would let a workflow satisfy a required review).
func (col *collector) workflowPermissions(ctx context.Context, org string) evidence.Artefact {
	subject := orgSubject(org)
	ctx, rec := connector.Record(ctx)
	wp, _, err := col.gh.Actions.GetDefaultWorkflowPermissionsInOrganization(ctx, org)
	if err != nil {
		return gap(kindWorkflowPermissions, subject, fmt.Errorf("could not get the default workflow permissions of %s: %w", org, err), rec.Exchanges())
	}
	return document(kindWorkflowPermissions, subject, struct {
		Organization                 string `json:"organization"`
		DefaultWorkflowPermissions   string `json:"default_workflow_permissions"`
		CanApprovePullRequestReviews bool   `json:"can_approve_pull_request_reviews"`
	}{org, wp.GetDefaultWorkflowPermissions(), wp.GetCanApprovePullRequestReviews()}, rec.Exchanges())
}
