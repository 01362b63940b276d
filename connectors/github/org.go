package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// orgSettingsDoc is the github.org.settings document: the organisation's security-relevant
// settings under GitHub's own names. A setting GitHub did not return is null.
type orgSettingsDoc struct {
	Login                                                 string  `json:"login"`
	Plan                                                  *string `json:"plan"`
	TwoFactorRequirementEnabled                           *bool   `json:"two_factor_requirement_enabled"`
	DefaultRepositoryPermission                           *string `json:"default_repository_permission"`
	MembersCanCreateRepositories                          *bool   `json:"members_can_create_repositories"`
	MembersCanCreatePublicRepositories                    *bool   `json:"members_can_create_public_repositories"`
	MembersCanCreatePrivateRepositories                   *bool   `json:"members_can_create_private_repositories"`
	MembersCanCreateInternalRepositories                  *bool   `json:"members_can_create_internal_repositories"`
	MembersCanForkPrivateRepositories                     *bool   `json:"members_can_fork_private_repositories"`
	MembersCanDeleteRepositories                          *bool   `json:"members_can_delete_repositories"`
	MembersCanChangeRepoVisibility                        *bool   `json:"members_can_change_repo_visibility"`
	WebCommitSignoffRequired                              *bool   `json:"web_commit_signoff_required"`
	AdvancedSecurityEnabledForNewRepositories             *bool   `json:"advanced_security_enabled_for_new_repositories"`
	DependabotAlertsEnabledForNewRepositories             *bool   `json:"dependabot_alerts_enabled_for_new_repositories"`
	SecretScanningEnabledForNewRepositories               *bool   `json:"secret_scanning_enabled_for_new_repositories"`
	SecretScanningPushProtectionEnabledForNewRepositories *bool   `json:"secret_scanning_push_protection_enabled_for_new_repositories"`
}

// orgSettings collects github.org.settings. The organisation is decoded from GitHub's JSON
// under GitHub's names rather than through gh.Organization, because some settings (who may
// delete repositories or change visibility) are returned by newer API versions than v60
// knows. It returns the error too, so Collect can stop on rejected credentials.
func (col *collector) orgSettings(ctx context.Context, org string) (evidence.Artefact, error) {
	subject := orgSubject(org)
	ctx, rec := connector.Record(ctx)
	req, err := col.gh.NewRequest(http.MethodGet, "orgs/"+url.PathEscape(org), nil)
	if err != nil {
		return gap(kindOrgSettings, subject, err, nil), err
	}
	var in struct {
		orgSettingsDoc
		Plan *struct {
			Name string `json:"name"`
		} `json:"plan"`
	}
	if _, err := col.gh.Do(ctx, req, &in); err != nil {
		return gap(kindOrgSettings, subject, fmt.Errorf("could not get organisation %s: %w", org, err), rec.Exchanges()), err
	}
	doc := in.orgSettingsDoc
	if in.Plan != nil {
		doc.Plan = &in.Plan.Name
	}
	if doc.TwoFactorRequirementEnabled == nil || doc.DefaultRepositoryPermission == nil {
		err := errors.New("GitHub did not return the organisation's security settings (two_factor_requirement_enabled, default_repository_permission): " +
			"they are shown to organisation owners only (GitHub App permission organization_administration:read)")
		return gapWith(kindOrgSettings, subject, evidence.StatusForbidden, err, rec.Exchanges()), nil
	}
	return document(kindOrgSettings, subject, doc, rec.Exchanges()), nil
}

// ownerSet is the organisation's owners, used to tell owners (admin on every repository
// by their role) from those made repository admins one by one.
type ownerSet struct {
	known     bool
	logins    map[string]bool
	exchanges []evidence.Exchange
}

// owners collects github.org.owners.
func (col *collector) owners(ctx context.Context, org string) (*ownerSet, evidence.Artefact) {
	subject := orgSubject(org)
	users, ex, err := listPages(ctx, col, func(ctx context.Context, page int) ([]*gh.User, *gh.Response, error) {
		return col.gh.Organizations.ListMembers(ctx, org, &gh.ListMembersOptions{Role: "admin", ListOptions: gh.ListOptions{Page: page, PerPage: col.cfg.PerPage}})
	})
	if err != nil {
		return &ownerSet{}, gap(kindOwners, subject, fmt.Errorf("could not list the owners of %s: %w", org, err), ex)
	}
	logins := loginsOf(users)
	set := &ownerSet{known: true, logins: map[string]bool{}, exchanges: ex}
	for _, l := range logins {
		set.logins[l] = true
	}
	return set, document(kindOwners, subject, struct {
		Organization string   `json:"organization"`
		Owners       []string `json:"owners"`
		Count        int      `json:"count"`
	}{org, logins, len(logins)}, ex)
}

// membersWithout2FA collects github.org.members_without_2fa (filter=2fa_disabled).
func (col *collector) membersWithout2FA(ctx context.Context, org string) evidence.Artefact {
	return col.membersFiltered(ctx, org, kindMembersWithout2FA, "2fa_disabled", "members_without_2fa", "without 2FA")
}

// membersInsecure2FA collects github.org.members_insecure_2fa (filter=2fa_insecure):
// members whose second factor GitHub counts as insecure.
func (col *collector) membersInsecure2FA(ctx context.Context, org string) evidence.Artefact {
	return col.membersFiltered(ctx, org, kindMembersInsecure2FA, "2fa_insecure", "members_insecure_2fa", "with insecure 2FA methods")
}

// membersFiltered lists the members a 2FA filter selects. Only owners may use the filters;
// others get 422, which is a forbidden gap.
func (col *collector) membersFiltered(ctx context.Context, org, kind, filter, field, what string) evidence.Artefact {
	subject := orgSubject(org)
	users, ex, err := listPages(ctx, col, func(ctx context.Context, page int) ([]*gh.User, *gh.Response, error) {
		return col.gh.Organizations.ListMembers(ctx, org, &gh.ListMembersOptions{Filter: filter, ListOptions: gh.ListOptions{Page: page, PerPage: col.cfg.PerPage}})
	})
	if err != nil {
		return gap(kind, subject, fmt.Errorf("could not list the members of %s %s: %w", org, what, err), ex)
	}
	logins := loginsOf(users)
	return document(kind, subject, map[string]any{"organization": org, field: logins, "count": len(logins)}, ex)
}

// outsideCollaborators collects github.org.outside_collaborators.
func (col *collector) outsideCollaborators(ctx context.Context, org string) evidence.Artefact {
	subject := orgSubject(org)
	users, ex, err := listPages(ctx, col, func(ctx context.Context, page int) ([]*gh.User, *gh.Response, error) {
		return col.gh.Organizations.ListOutsideCollaborators(ctx, org, &gh.ListOutsideCollaboratorsOptions{ListOptions: gh.ListOptions{Page: page, PerPage: col.cfg.PerPage}})
	})
	if err != nil {
		return gap(kindOutsideCollabs, subject, fmt.Errorf("could not list the outside collaborators of %s: %w", org, err), ex)
	}
	logins := loginsOf(users)
	return document(kindOutsideCollabs, subject, struct {
		Organization         string   `json:"organization"`
		OutsideCollaborators []string `json:"outside_collaborators"`
		Count                int      `json:"count"`
	}{org, logins, len(logins)}, ex)
}

// hookDoc is one webhook. The URL is reduced to scheme and host (webhook URLs often carry
// a token in their path); the secret to whether one is set (GitHub returns it masked).
type hookDoc struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Active      bool     `json:"active"`
	Events      []string `json:"events"`
	URLScheme   string   `json:"url_scheme"`
	URLHost     string   `json:"url_host"`
	ContentType string   `json:"content_type"`
	InsecureSSL string   `json:"insecure_ssl"`
	SecretSet   bool     `json:"secret_set"`
}

// webhooks collects github.org.webhooks.
func (col *collector) webhooks(ctx context.Context, org string) evidence.Artefact {
	subject := orgSubject(org)
	hooks, ex, err := listPages(ctx, col, func(ctx context.Context, page int) ([]*gh.Hook, *gh.Response, error) {
		return col.gh.Organizations.ListHooks(ctx, org, &gh.ListOptions{Page: page, PerPage: col.cfg.PerPage})
	})
	if err != nil {
		return gap(kindWebhooks, subject, fmt.Errorf("could not list the webhooks of %s: %w", org, err), ex)
	}
	docs := make([]hookDoc, 0, len(hooks))
	for _, h := range hooks {
		d := hookDoc{ID: h.GetID(), Name: h.GetName(), Active: h.GetActive(), Events: append([]string{}, h.Events...), InsecureSSL: "0"}
		sort.Strings(d.Events)
		if c := h.Config; c != nil {
			if u, err := url.Parse(c.GetURL()); err == nil {
				d.URLScheme, d.URLHost = u.Scheme, u.Host
			}
			d.ContentType = c.GetContentType()
			if c.InsecureSSL != nil {
				d.InsecureSSL = *c.InsecureSSL
			}
			d.SecretSet = c.GetSecret() != ""
		}
		docs = append(docs, d)
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].ID < docs[j].ID })
	return document(kindWebhooks, subject, struct {
		Organization string    `json:"organization"`
		Hooks        []hookDoc `json:"hooks"`
	}{org, docs}, ex)
}

// auditEventDoc is one audit log event, reduced to who did what when.
type auditEventDoc struct {
	Timestamp string `json:"timestamp"`
	Action    string `json:"action"`
	Actor     string `json:"actor"`
	User      string `json:"user,omitempty"`
	Repo      string `json:"repo,omitempty"`
}

// auditLogPageSize is how many of the latest events are kept: enough to show the log is
// available and alive. Exporting the log is the job of GitHub's audit log streaming.
const auditLogPageSize = 100

// auditLog collects github.org.audit_log. The API exists on GitHub Enterprise Cloud only;
// elsewhere GitHub answers 404, which is a not_available gap, not a failure.
func (col *collector) auditLog(ctx context.Context, org string) evidence.Artefact {
	subject := orgSubject(org)
	ctx, rec := connector.Record(ctx)
	entries, _, err := col.gh.Organizations.GetAuditLog(ctx, org, &gh.GetAuditLogOptions{
		Order: ptr("desc"), ListCursorOptions: gh.ListCursorOptions{PerPage: auditLogPageSize},
	})
	if err != nil {
		if isNotFound(err) {
			return gapWith(kindAuditLog, subject, evidence.StatusNotAvailable,
				fmt.Errorf("the organisation audit log API is not available for %s (it needs GitHub Enterprise Cloud): %w", org, err), rec.Exchanges())
		}
		return gap(kindAuditLog, subject, fmt.Errorf("could not read the audit log of %s: %w", org, err), rec.Exchanges())
	}
	events := make([]auditEventDoc, 0, len(entries))
	for _, e := range entries {
		d := auditEventDoc{Action: e.GetAction(), Actor: e.GetActor(), User: e.GetUser()}
		switch {
		case e.Timestamp != nil:
			d.Timestamp = ts(e.Timestamp)
		case e.CreatedAt != nil:
			d.Timestamp = ts(e.CreatedAt)
		}
		if r, ok := e.AdditionalFields["repo"].(string); ok {
			d.Repo = r
		}
		events = append(events, d)
	}
	latest := ""
	for _, e := range events {
		if e.Timestamp > latest {
			latest = e.Timestamp
		}
	}
	return document(kindAuditLog, subject, struct {
		Organization string          `json:"organization"`
		Available    bool            `json:"available"`
		LatestEvent  string          `json:"latest_event"`
		Events       []auditEventDoc `json:"events"`
	}{org, true, latest, events}, rec.Exchanges())
}

func loginsOf(users []*gh.User) []string {
	out := make([]string, 0, len(users))
	for _, u := range users {
		out = append(out, u.GetLogin())
	}
	sort.Strings(out)
	return out
}
