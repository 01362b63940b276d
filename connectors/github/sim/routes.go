package sim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

var notFound = map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}

func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", s.accessTokens)
	api := func(pattern string, fn http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.requestSeq++
			s.queries[r.URL.Path] = append(s.queries[r.URL.Path], r.URL.RawQuery)
			seq := s.requestSeq
			s.mu.Unlock()
			w.Header().Set("X-Github-Request-Id", fmt.Sprintf("SIM0:%04X:%06X", seq%65536, seq))
			w.Header().Set("X-Github-Api-Version-Selected", "2022-11-28")
			if !s.authenticate(w, r) {
				return
			}
			fn(w, r)
		})
	}
	api("GET /rate_limit", s.rateLimit)
	api("GET /orgs/{org}", s.withOrg(s.getOrg))
	api("GET /orgs/{org}/members", s.withOrg(s.members))
	api("GET /orgs/{org}/outside_collaborators", s.withOrg(s.outsideCollaborators))
	api("GET /orgs/{org}/actions/permissions", s.withOrg(s.actionsPermissions))
	api("GET /orgs/{org}/actions/permissions/selected-actions", s.withOrg(s.selectedActions))
	api("GET /orgs/{org}/actions/permissions/workflow", s.withOrg(s.workflowPermissions))
	api("GET /orgs/{org}/hooks", s.withOrg(s.hooks))
	api("GET /orgs/{org}/audit-log", s.withOrg(s.auditLog))
	api("GET /orgs/{org}/repos", s.withOrg(s.repos))
	api("GET /orgs/{org}/dependabot/alerts", s.withOrg(s.dependabotAlerts))
	api("GET /orgs/{org}/code-scanning/alerts", s.withOrg(s.codeScanningAlerts))
	api("GET /orgs/{org}/secret-scanning/alerts", s.withOrg(s.secretScanningAlerts))
	api("GET /repos/{owner}/{repo}/branches/{branch}/protection", s.withRepo(s.protection))
	api("GET /repos/{owner}/{repo}/branches/{branch}/protection/required_signatures", s.withRepo(s.requiredSignatures))
	api("GET /repos/{owner}/{repo}/rulesets", s.withRepo(s.rulesets))
	api("GET /repos/{owner}/{repo}/rulesets/{id}", s.withRepo(s.ruleset))
	api("GET /repos/{owner}/{repo}/rules/branches/{branch...}", s.withRepo(s.branchRules))
	api("GET /repos/{owner}/{repo}/collaborators", s.withRepo(s.collaborators))
	api("GET /repos/{owner}/{repo}/vulnerability-alerts", s.withRepo(s.vulnerabilityAlerts))
	api("GET /repos/{owner}/{repo}/contents/{path...}", s.withRepo(s.contents))
	api("/", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusNotFound, notFound) })
	return mux
}

func (s *Sim) withOrg(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.PathValue("org"), s.org.Login) {
			writeJSON(w, http.StatusNotFound, notFound)
			return
		}
		fn(w, r)
	}
}

func (s *Sim) withRepo(fn func(w http.ResponseWriter, r *http.Request, repo *Repo)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.PathValue("owner"), s.org.Login) {
			writeJSON(w, http.StatusNotFound, notFound)
			return
		}
		repo := s.repo(r.PathValue("repo"))
		if repo == nil {
			writeJSON(w, http.StatusNotFound, notFound)
			return
		}
		fn(w, r, repo)
	}
}

func (s *Sim) repo(name string) *Repo {
	for _, r := range s.org.Repos {
		if strings.EqualFold(r.Name, name) {
			return r
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// paginate selects the page of n items the request asks for (page, per_page: default 30,
// at most 100) and sets GitHub's Link header.
func (s *Sim) paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	per := atoiDefault(q.Get("per_page"), 30)
	per = min(max(per, 1), 100)
	page := max(atoiDefault(q.Get("page"), 1), 1)
	last := max((n+per-1)/per, 1)
	lo, hi = min((page-1)*per, n), min(page*per, n)
	var links []string
	link := func(p int, rel string) {
		q.Set("page", strconv.Itoa(p))
		links = append(links, fmt.Sprintf("<%s>; rel=%q", s.selfURL(r, q), rel))
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
		link(page-1, "prev")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	return lo, hi
}

// paginateCursor pages with after= cursors, as GitHub's Dependabot alert listing does.
func (s *Sim) paginateCursor(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	per := min(max(atoiDefault(q.Get("per_page"), 30), 1), 100)
	lo = 0
	if a := q.Get("after"); a != "" {
		b, err := base64.RawURLEncoding.DecodeString(a)
		if err == nil {
			lo = min(atoiDefault(strings.TrimPrefix(string(b), "cursor:v2:"), 0), n)
		}
	}
	hi = min(lo+per, n)
	if hi < n {
		q.Del("page")
		q.Set("after", base64.RawURLEncoding.EncodeToString([]byte("cursor:v2:"+strconv.Itoa(hi))))
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", s.selfURL(r, q)))
	}
	return lo, hi
}

func (s *Sim) selfURL(r *http.Request, q url.Values) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s%s%s?%s", scheme, r.Host, s.base, r.URL.Path, q.Encode())
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func (s *Sim) apiURL(r *http.Request, p string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s%s/%s", scheme, r.Host, s.base, strings.TrimPrefix(p, "/"))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func enabled(b bool) map[string]any { return map[string]any{"enabled": b} }

func status(s string) map[string]any { return map[string]any{"status": s} }

// rateLimit implements GET /rate_limit.
func (s *Sim) rateLimit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	limit := s.opts.RateLimit
	if limit <= 0 {
		limit = 15000
	}
	used := s.used
	reset := s.windowStart.Add(s.opts.RateWindow)
	if s.windowStart.IsZero() {
		reset = s.opts.Now().Add(s.opts.RateWindow)
	}
	s.mu.Unlock()
	res := func(l, u int) map[string]any {
		return map[string]any{"limit": l, "used": u, "remaining": max(l-u, 0), "reset": reset.Unix(), "resource": ""}
	}
	core := res(limit, used)
	core["resource"] = "core"
	writeJSON(w, http.StatusOK, map[string]any{
		"resources": map[string]any{
			"core": core, "search": res(30, 0), "graphql": res(5000, 0), "code_search": res(10, 0),
			"integration_manifest": res(5000, 0), "audit_log": res(1750, 0),
		},
		"rate": core,
	})
}

func (s *Sim) getOrg(w http.ResponseWriter, r *http.Request) {
	o := s.org
	out := map[string]any{
		"login": o.Login, "id": userID(o.Login), "node_id": "O_" + o.Login, "url": s.apiURL(r, "orgs/"+o.Login),
		"repos_url": s.apiURL(r, "orgs/"+o.Login+"/repos"), "hooks_url": s.apiURL(r, "orgs/"+o.Login+"/hooks"),
		"events_url": s.apiURL(r, "orgs/"+o.Login+"/events"), "issues_url": s.apiURL(r, "orgs/"+o.Login+"/issues"),
		"members_url": s.apiURL(r, "orgs/"+o.Login+"/members{/member}"), "public_members_url": s.apiURL(r, "orgs/"+o.Login+"/public_members{/member}"),
		"avatar_url":   "https://avatars.githubusercontent.com/u/" + strconv.FormatInt(userID(o.Login), 10) + "?v=4",
		"public_gists": 0, "followers": 0, "following": 0, "archived_at": nil,
		"description": "Simulated organisation", "name": strings.ToUpper(o.Login[:1]) + o.Login[1:] + " Corp", "type": "Organization",
		"is_verified": true, "has_organization_projects": true, "has_repository_projects": true,
		"public_repos": s.count(func(r *Repo) bool { return r.Visibility == "public" }), "total_private_repos": s.count(func(r *Repo) bool { return r.Visibility != "public" }),
		"html_url": "https://github.com/" + o.Login, "created_at": "2019-03-01T09:00:00Z", "updated_at": "2026-01-15T12:00:00Z",
		"plan":                                                         map[string]any{"name": o.Plan, "space": 976562499, "private_repos": 999999, "filled_seats": len(o.Members), "seats": len(o.Members) + 10},
		"two_factor_requirement_enabled":                               o.TwoFactorRequired,
		"default_repository_permission":                                o.DefaultPermission,
		"members_can_create_repositories":                              o.MembersCanCreateRepos,
		"members_can_create_public_repositories":                       o.MembersCanCreatePublic,
		"members_can_create_private_repositories":                      o.MembersCanCreatePrivate,
		"members_can_create_internal_repositories":                     o.MembersCanCreateInternal,
		"members_allowed_repository_creation_type":                     map[bool]string{true: "all", false: "none"}[o.MembersCanCreateRepos],
		"members_can_fork_private_repositories":                        false,
		"members_can_delete_repositories":                              o.MembersCanDeleteRepos,
		"web_commit_signoff_required":                                  false,
		"advanced_security_enabled_for_new_repositories":               !s.opts.NoAdvancedSecurity,
		"dependabot_alerts_enabled_for_new_repositories":               true,
		"dependabot_security_updates_enabled_for_new_repositories":     true,
		"dependency_graph_enabled_for_new_repositories":                true,
		"secret_scanning_enabled_for_new_repositories":                 !s.opts.NoAdvancedSecurity,
		"secret_scanning_push_protection_enabled_for_new_repositories": !s.opts.NoAdvancedSecurity,
		"billing_email":                                                "billing@" + o.Login + ".example",
	}
	if s.opts.Access == AccessMember {
		// "To see the full details about an organization, the authenticated user must be an
		// organization owner": a member sees the public profile only.
		for k := range out {
			if ownerOnly(k) {
				delete(out, k)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// ownerOnly names the organisation fields GitHub shows to owners only.
func ownerOnly(field string) bool {
	return strings.HasPrefix(field, "members_can_") || strings.HasPrefix(field, "members_allowed_") || strings.HasSuffix(field, "_for_new_repositories") ||
		slices.Contains([]string{"two_factor_requirement_enabled", "default_repository_permission", "web_commit_signoff_required",
			"billing_email", "plan", "total_private_repos", "owned_private_repos", "private_gists", "disk_usage", "collaborators"}, field)
}

func (s *Sim) count(fn func(*Repo) bool) int {
	n := 0
	for _, r := range s.org.Repos {
		if fn(r) {
			n++
		}
	}
	return n
}

func (s *Sim) writeUsers(w http.ResponseWriter, r *http.Request, logins []string) {
	lo, hi := s.paginate(w, r, len(logins))
	out := []map[string]any{}
	for _, l := range logins[lo:hi] {
		out = append(out, user(l))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) members(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if f := q.Get("filter"); s.opts.Access == AccessMember && f != "" && f != "all" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Only owners can use this filter.",
			"documentation_url": "https://docs.github.com/rest/orgs/members#list-organization-members", "status": "422"})
		return
	}
	var logins []string
	for _, m := range s.org.Members {
		if q.Get("filter") == "2fa_disabled" && m.TwoFA {
			continue
		}
		if q.Get("filter") == "2fa_insecure" && !(m.TwoFA && m.Insecure2FA) {
			continue
		}
		if q.Get("role") == "admin" && !slices.Contains(s.org.Owners, m.Login) {
			continue
		}
		logins = append(logins, m.Login)
	}
	if q.Get("role") == "admin" {
		logins = append([]string(nil), s.org.Owners...)
	}
	slices.Sort(logins)
	s.writeUsers(w, r, logins)
}

func (s *Sim) outsideCollaborators(w http.ResponseWriter, r *http.Request) {
	s.writeUsers(w, r, s.org.OutsideCollaborators)
}

func (s *Sim) actionsPermissions(w http.ResponseWriter, r *http.Request) {
	a := s.org.Actions
	out := map[string]any{"enabled_repositories": a.EnabledRepositories, "allowed_actions": a.AllowedActions}
	if a.AllowedActions == "selected" {
		out["selected_actions_url"] = s.apiURL(r, "orgs/"+s.org.Login+"/actions/permissions/selected-actions")
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) selectedActions(w http.ResponseWriter, r *http.Request) {
	a := s.org.Actions
	patterns := append([]string{}, a.PatternsAllowed...)
	writeJSON(w, http.StatusOK, map[string]any{"github_owned_allowed": a.GitHubOwnedAllowed, "verified_allowed": a.VerifiedAllowed, "patterns_allowed": patterns})
}

func (s *Sim) workflowPermissions(w http.ResponseWriter, r *http.Request) {
	a := s.org.Actions
	writeJSON(w, http.StatusOK, map[string]any{"default_workflow_permissions": a.DefaultWorkflow, "can_approve_pull_request_reviews": a.CanApprovePRs})
}

func (s *Sim) hooks(w http.ResponseWriter, r *http.Request) {
	lo, hi := s.paginate(w, r, len(s.org.Hooks))
	out := []map[string]any{}
	for _, h := range s.org.Hooks[lo:hi] {
		cfg := map[string]any{"url": h.URL, "content_type": "json", "insecure_ssl": map[bool]string{true: "1", false: "0"}[h.InsecureSSL]}
		if h.Secret {
			cfg["secret"] = "********"
		}
		u := s.apiURL(r, fmt.Sprintf("orgs/%s/hooks/%d", s.org.Login, h.ID))
		out = append(out, map[string]any{
			"type": "Organization", "id": h.ID, "name": "web", "active": h.Active, "events": h.Events, "config": cfg,
			"updated_at": "2025-11-02T10:00:00Z", "created_at": "2024-05-17T08:30:00Z", "url": u, "ping_url": u + "/pings", "deliveries_url": u + "/deliveries",
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) auditLog(w http.ResponseWriter, r *http.Request) {
	if s.org.Plan != "enterprise" {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	lo, hi := s.paginateCursor(w, r, len(s.org.Audit))
	out := []map[string]any{}
	for i, e := range s.org.Audit[lo:hi] {
		m := map[string]any{
			"@timestamp": e.At.UnixMilli(), "created_at": e.At.UnixMilli(), "_document_id": fmt.Sprintf("sim-audit-%04d", lo+i),
			"action": e.Action, "actor": e.Actor, "actor_id": userID(e.Actor), "org": s.org.Login, "org_id": userID(s.org.Login),
			"operation_type": "modify", "actor_location": map[string]any{"country_code": "DE"},
		}
		if e.Repo != "" {
			m["repo"] = s.org.Login + "/" + e.Repo
		}
		if e.User != "" {
			m["user"] = e.User
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}
