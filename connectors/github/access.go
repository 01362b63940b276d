package github

import (
	"context"
	"fmt"
	"sort"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/evidence"
)

// collaboratorDoc is one person or bot with access to a repository. OrgOwner is null when
// the owners could not be listed.
type collaboratorDoc struct {
	Login       string          `json:"login"`
	Type        string          `json:"type"`
	RoleName    string          `json:"role_name"`
	Permissions map[string]bool `json:"permissions"`
	OrgOwner    *bool           `json:"org_owner"`
}

// collaboratorsDoc is github.repo.collaborators. Admins lists everyone whose role_name is
// admin: GitHub's role_name is the highest role after every grant (repository, teams,
// organisation, enterprise), while permissions holds only the base role's;
// AdminsExcludingOwners leaves out organisation owners, who are admin of every repository
// by their role, so a rule can count the admins someone granted on this repository.
type collaboratorsDoc struct {
	Repository            string            `json:"repository"`
	Collaborators         []collaboratorDoc `json:"collaborators"`
	Admins                []string          `json:"admins"`
	AdminsExcludingOwners []string          `json:"admins_excluding_owners"`
	OwnersKnown           bool              `json:"owners_known"`
}

// collaborators collects github.repo.collaborators (affiliation=all: direct, through teams
// and through organisation roles). The owners listing it is judged against is attached as
// provenance, so the document can be re-derived from the raw responses alone.
func (col *collector) collaborators(ctx context.Context, owner, repo string, owners *ownerSet) evidence.Artefact {
	full := owner + "/" + repo
	subject := repoSubject(full)
	users, ex, err := listPages(ctx, col, func(ctx context.Context, page int) ([]*gh.User, *gh.Response, error) {
		return col.gh.Repositories.ListCollaborators(ctx, owner, repo, &gh.ListCollaboratorsOptions{
			Affiliation: "all", ListOptions: gh.ListOptions{Page: page, PerPage: col.cfg.PerPage},
		})
	})
	if err != nil {
		return gap(kindCollaborators, subject, fmt.Errorf("could not list the collaborators of %s: %w", full, err), ex)
	}
	d := collaboratorsDoc{Repository: full, Collaborators: []collaboratorDoc{}, Admins: []string{}, AdminsExcludingOwners: []string{}, OwnersKnown: owners.known}
	for _, u := range users {
		c := collaboratorDoc{Login: u.GetLogin(), Type: u.GetType(), RoleName: u.GetRoleName(), Permissions: u.Permissions}
		if c.Permissions == nil {
			c.Permissions = map[string]bool{}
		}
		if owners.known {
			c.OrgOwner = ptr(owners.logins[c.Login])
		}
		if c.RoleName == "admin" {
			d.Admins = append(d.Admins, c.Login)
			if !owners.known || !owners.logins[c.Login] {
				d.AdminsExcludingOwners = append(d.AdminsExcludingOwners, c.Login)
			}
		}
		d.Collaborators = append(d.Collaborators, c)
	}
	sort.Slice(d.Collaborators, func(i, j int) bool { return d.Collaborators[i].Login < d.Collaborators[j].Login })
	sort.Strings(d.Admins)
	sort.Strings(d.AdminsExcludingOwners)
	if owners.known {
		ex = append(ex, owners.exchanges...)
	}
	return document(kindCollaborators, subject, d, ex)
}
