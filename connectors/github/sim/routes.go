package sim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
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

func user(login string) map[string]any {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return map[string]any{
		"login": login, "id": userID(login), "node_id": "U_" + base64.RawStdEncoding.EncodeToString([]byte(login)),
		"avatar_url": "https://avatars.githubusercontent.com/u/" + strconv.FormatInt(userID(login), 10) + "?v=4",
		"url":        "https://api.github.com/users/" + login, "html_url": "https://github.com/" + login, "type": typ, "site_admin": false,
	}
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
	writeJSON(w, http.StatusOK, map[string]any{
		"login": o.Login, "id": userID(o.Login), "node_id": "O_" + o.Login, "url": s.apiURL(r, "orgs/"+o.Login),
		"repos_url": s.apiURL(r, "orgs/"+o.Login+"/repos"), "hooks_url": s.apiURL(r, "orgs/"+o.Login+"/hooks"),
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
	})
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
	var logins []string
	for _, m := range s.org.Members {
		if q.Get("filter") == "2fa_disabled" && m.TwoFA {
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

func (s *Sim) repoJSON(r *http.Request, repo *Repo) map[string]any {
	full := s.org.Login + "/" + repo.Name
	topics := append([]string{}, repo.Topics...)
	out := map[string]any{
		"id": repo.ID, "node_id": fmt.Sprintf("R_sim%d", repo.ID), "name": repo.Name, "full_name": full,
		"private": repo.Visibility != "public", "visibility": repo.Visibility,
		"owner":    map[string]any{"login": s.org.Login, "id": userID(s.org.Login), "type": "Organization", "site_admin": false},
		"html_url": "https://github.com/" + full, "description": "Simulated repository " + repo.Name, "fork": repo.Fork,
		"url": s.apiURL(r, "repos/"+full), "archived": repo.Archived, "disabled": false, "topics": topics,
		"created_at": stamp(repo.CreatedAt), "updated_at": stamp(repo.PushedAt), "pushed_at": stamp(repo.PushedAt),
		"default_branch": repo.DefaultBranch, "size": 1024 + repo.ID%4096, "language": "Go",
		"has_issues": true, "has_projects": false, "has_wiki": false, "allow_forking": false, "is_template": false,
		"permissions": map[string]any{"admin": true, "maintain": true, "push": true, "triage": true, "pull": true},
		"security_and_analysis": map[string]any{
			"advanced_security": status(repo.AdvancedSecurity), "secret_scanning": status(repo.SecretScanning),
			"secret_scanning_push_protection": status(repo.PushProtection), "dependabot_security_updates": status(repo.DependabotUpdates),
			"secret_scanning_non_provider_patterns": status("disabled"), "secret_scanning_validity_checks": status("disabled"),
		},
	}
	return out
}

func (s *Sim) repos(w http.ResponseWriter, r *http.Request) {
	repos := append([]*Repo(nil), s.org.Repos...)
	slices.SortFunc(repos, func(a, b *Repo) int { return strings.Compare(a.Name, b.Name) })
	lo, hi := s.paginate(w, r, len(repos))
	out := []map[string]any{}
	for _, repo := range repos[lo:hi] {
		out = append(out, s.repoJSON(r, repo))
	}
	writeJSON(w, http.StatusOK, out)
}

// planBlocks reports whether the plan lacks protection for this repository (free plan,
// private repository), answering as GitHub does.
func (s *Sim) planBlocks(w http.ResponseWriter, repo *Repo) bool {
	if s.org.Plan == "free" && repo.Visibility != "public" {
		writeJSON(w, http.StatusForbidden, map[string]any{
			"message":           "Upgrade to GitHub Pro or make this repository public to enable this feature.",
			"documentation_url": "https://docs.github.com/rest/branches/branch-protection#get-branch-protection", "status": "403",
		})
		return true
	}
	return false
}

func (s *Sim) protection(w http.ResponseWriter, r *http.Request, repo *Repo) {
	if s.planBlocks(w, repo) {
		return
	}
	branch := r.PathValue("branch")
	if branch != repo.DefaultBranch {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Branch not found", "documentation_url": "https://docs.github.com/rest/branches/branch-protection#get-branch-protection", "status": "404"})
		return
	}
	p := repo.Protection
	if p == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Branch not protected", "documentation_url": "https://docs.github.com/rest/branches/branch-protection#get-branch-protection", "status": "404"})
		return
	}
	base := s.apiURL(r, fmt.Sprintf("repos/%s/%s/branches/%s/protection", s.org.Login, repo.Name, branch))
	out := map[string]any{
		"url":                              base,
		"enforce_admins":                   map[string]any{"url": base + "/enforce_admins", "enabled": p.EnforceAdmins},
		"required_linear_history":          enabled(p.LinearHistory),
		"allow_force_pushes":               enabled(p.AllowForcePushes),
		"allow_deletions":                  enabled(p.AllowDeletions),
		"block_creations":                  enabled(false),
		"required_conversation_resolution": enabled(p.ConversationResolution),
		"lock_branch":                      enabled(false),
		"allow_fork_syncing":               enabled(false),
		"required_signatures":              map[string]any{"url": base + "/required_signatures", "enabled": p.Signatures},
	}
	if rv := p.Reviews; rv != nil {
		users := []map[string]any{}
		for _, u := range rv.BypassUsers {
			users = append(users, user(u))
		}
		out["required_pull_request_reviews"] = map[string]any{
			"url": base + "/required_pull_request_reviews", "dismiss_stale_reviews": rv.DismissStale,
			"require_code_owner_reviews": rv.CodeOwners, "required_approving_review_count": rv.Count,
			"require_last_push_approval":     rv.LastPush,
			"bypass_pull_request_allowances": map[string]any{"users": users, "teams": []any{}, "apps": []any{}},
		}
	}
	if c := p.Checks; c != nil {
		checks := []map[string]any{}
		for _, ctx := range c.Contexts {
			checks = append(checks, map[string]any{"context": ctx, "app_id": 15368})
		}
		out["required_status_checks"] = map[string]any{
			"url": base + "/required_status_checks", "strict": c.Strict, "contexts": append([]string{}, c.Contexts...),
			"contexts_url": base + "/required_status_checks/contexts", "checks": checks,
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) requiredSignatures(w http.ResponseWriter, r *http.Request, repo *Repo) {
	if repo.Protection == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Branch not protected"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"url": s.apiURL(r, r.URL.Path), "enabled": repo.Protection.Signatures})
}

// rulesetsFor returns the repository's rulesets and, with parents, the organisation
// rulesets whose repository conditions select it.
func (s *Sim) rulesetsFor(repo *Repo, parents bool) []*Ruleset {
	out := append([]*Ruleset(nil), repo.Rulesets...)
	if parents {
		for _, rs := range s.org.Rulesets {
			for _, p := range rs.RepoInclude {
				if p == "~ALL" || matchName(p, repo.Name) {
					out = append(out, rs)
					break
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b *Ruleset) int { return int(a.ID - b.ID) })
	return out
}

func matchName(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}

func (s *Sim) rulesetJSON(r *http.Request, repo *Repo, rs *Ruleset, detail bool) map[string]any {
	orgLevel := slices.Contains(s.org.Rulesets, rs)
	sourceType, source := "Repository", s.org.Login+"/"+repo.Name
	self := s.apiURL(r, fmt.Sprintf("repos/%s/%s/rulesets/%d", s.org.Login, repo.Name, rs.ID))
	if orgLevel {
		sourceType, source = "Organization", s.org.Login
		self = s.apiURL(r, fmt.Sprintf("orgs/%s/rulesets/%d", s.org.Login, rs.ID))
	}
	out := map[string]any{
		"id": rs.ID, "name": rs.Name, "target": rs.Target, "source_type": sourceType, "source": source, "enforcement": rs.Enforcement,
		"node_id": fmt.Sprintf("RRS_sim%d", rs.ID), "created_at": "2025-06-01T10:00:00.000+02:00", "updated_at": "2025-09-12T16:30:00.000+02:00",
		"_links": map[string]any{"self": map[string]any{"href": self}, "html": map[string]any{"href": "https://github.com/" + source + "/rules/" + strconv.FormatInt(rs.ID, 10)}},
	}
	if !detail {
		return out
	}
	bypass := []map[string]any{}
	for _, b := range rs.Bypass {
		bypass = append(bypass, map[string]any{"actor_id": b.ActorID, "actor_type": b.ActorType, "bypass_mode": b.Mode})
	}
	rules := []map[string]any{}
	for _, rule := range rs.Rules {
		m := map[string]any{"type": rule.Type}
		if rule.Params != nil {
			m["parameters"] = rule.Params
		}
		rules = append(rules, m)
	}
	cond := map[string]any{"ref_name": map[string]any{"include": nonNil(rs.Include), "exclude": nonNil(rs.Exclude)}}
	if orgLevel {
		cond["repository_name"] = map[string]any{"include": nonNil(rs.RepoInclude), "exclude": []string{}, "protected": false}
	}
	out["bypass_actors"] = bypass
	out["conditions"] = cond
	out["rules"] = rules
	out["current_user_can_bypass"] = map[bool]string{true: "always", false: "never"}[len(rs.Bypass) > 0]
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Sim) rulesets(w http.ResponseWriter, r *http.Request, repo *Repo) {
	if s.planBlocks(w, repo) {
		return
	}
	list := s.rulesetsFor(repo, r.URL.Query().Get("includes_parents") == "true")
	lo, hi := s.paginate(w, r, len(list))
	out := []map[string]any{}
	for _, rs := range list[lo:hi] {
		out = append(out, s.rulesetJSON(r, repo, rs, false))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) ruleset(w http.ResponseWriter, r *http.Request, repo *Repo) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, rs := range s.rulesetsFor(repo, r.URL.Query().Get("includes_parents") == "true") {
		if rs.ID == id {
			writeJSON(w, http.StatusOK, s.rulesetJSON(r, repo, rs, true))
			return
		}
	}
	writeJSON(w, http.StatusNotFound, notFound)
}

var rolePerms = map[string][]string{
	"admin": {"admin", "maintain", "push", "triage", "pull"}, "maintain": {"maintain", "push", "triage", "pull"},
	"write": {"push", "triage", "pull"}, "triage": {"triage", "pull"}, "read": {"pull"},
}

func (s *Sim) collaborators(w http.ResponseWriter, r *http.Request, repo *Repo) {
	roles := map[string]string{}
	for _, c := range repo.Collaborators {
		roles[c.Login] = c.Role
	}
	if aff := r.URL.Query().Get("affiliation"); aff == "" || aff == "all" {
		for _, o := range s.org.Owners {
			roles[o] = "admin" // owners are admin of every repository
		}
	}
	logins := make([]string, 0, len(roles))
	for l := range roles {
		logins = append(logins, l)
	}
	slices.Sort(logins)
	lo, hi := s.paginate(w, r, len(logins))
	out := []map[string]any{}
	for _, l := range logins[lo:hi] {
		u := user(l)
		perms := map[string]any{"admin": false, "maintain": false, "push": false, "triage": false, "pull": false}
		for _, p := range rolePerms[roles[l]] {
			perms[p] = true
		}
		u["permissions"] = perms
		u["role_name"] = roles[l]
		out = append(out, u)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) vulnerabilityAlerts(w http.ResponseWriter, r *http.Request, repo *Repo) {
	if repo.DependabotAlertsEnabled {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"message": "Vulnerability alerts are disabled.", "documentation_url": "https://docs.github.com/rest/repos/repos#check-if-vulnerability-alerts-are-enabled-for-a-repository", "status": "404"})
}

func (s *Sim) contents(w http.ResponseWriter, r *http.Request, repo *Repo) {
	p := r.PathValue("path")
	if !slices.Contains(repo.Files, p) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/contents#get-repository-content", "status": "404"})
		return
	}
	body := "# Security policy\n\nReport vulnerabilities to security@" + s.org.Login + ".example.\n"
	full := s.org.Login + "/" + repo.Name
	writeJSON(w, http.StatusOK, map[string]any{
		"type": "file", "encoding": "base64", "size": len(body), "name": path.Base(p), "path": p,
		"content": base64.StdEncoding.EncodeToString([]byte(body)), "sha": fmt.Sprintf("%040x", userID(full+p)),
		"url": s.apiURL(r, "repos/"+full+"/contents/"+p), "html_url": "https://github.com/" + full + "/blob/" + repo.DefaultBranch + "/" + p,
		"download_url": "https://raw.githubusercontent.com/" + full + "/" + repo.DefaultBranch + "/" + p,
	})
}

var severityRank = regexp.MustCompile(`^(critical|high|medium|low)$`)

func (s *Sim) minimalRepo(r *http.Request, repo *Repo) map[string]any {
	full := s.org.Login + "/" + repo.Name
	return map[string]any{
		"id": repo.ID, "node_id": fmt.Sprintf("R_sim%d", repo.ID), "name": repo.Name, "full_name": full, "private": repo.Visibility != "public",
		"owner":    map[string]any{"login": s.org.Login, "id": userID(s.org.Login), "type": "Organization"},
		"html_url": "https://github.com/" + full, "url": s.apiURL(r, "repos/"+full), "fork": repo.Fork,
	}
}

func (s *Sim) dependabotAlerts(w http.ResponseWriter, r *http.Request) {
	type item struct {
		repo *Repo
		a    DependabotAlert
	}
	var all []item
	for _, repo := range s.org.Repos {
		for _, a := range repo.DependabotAlerts {
			all = append(all, item{repo, a})
		}
	}
	lo, hi := s.paginateCursor(w, r, len(all))
	out := []map[string]any{}
	for _, it := range all[lo:hi] {
		a, full := it.a, s.org.Login+"/"+it.repo.Name
		sev := a.Severity
		if !severityRank.MatchString(sev) {
			sev = "medium"
		}
		pkg := map[string]any{"ecosystem": a.Ecosystem, "name": a.Package}
		out = append(out, map[string]any{
			"number": a.Number, "state": "open",
			"dependency": map[string]any{"package": pkg, "manifest_path": a.Manifest, "scope": "runtime"},
			"security_advisory": map[string]any{
				"ghsa_id": a.GHSA, "cve_id": a.CVE, "summary": a.Summary, "description": a.Summary + ".", "severity": sev,
				"identifiers":  []map[string]any{{"value": a.GHSA, "type": "GHSA"}, {"value": a.CVE, "type": "CVE"}},
				"references":   []map[string]any{{"url": "https://nvd.nist.gov/vuln/detail/" + a.CVE}},
				"published_at": stamp(days(a.Created, 10)), "updated_at": stamp(days(a.Created, 2)), "withdrawn_at": nil,
				"vulnerabilities": []map[string]any{{"package": pkg, "severity": sev, "vulnerable_version_range": "< 4.17.12", "first_patched_version": map[string]any{"identifier": "4.17.12"}}},
				"cvss":            map[string]any{"vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "score": 9.8},
				"cwes":            []map[string]any{{"cwe_id": "CWE-1321", "name": "Improperly Controlled Modification of Object Prototype Attributes"}},
			},
			"security_vulnerability": map[string]any{"package": pkg, "severity": sev, "vulnerable_version_range": "< 4.17.12", "first_patched_version": map[string]any{"identifier": "4.17.12"}},
			"url":                    s.apiURL(r, fmt.Sprintf("repos/%s/dependabot/alerts/%d", full, a.Number)),
			"html_url":               fmt.Sprintf("https://github.com/%s/security/dependabot/%d", full, a.Number),
			"created_at":             stamp(a.Created), "updated_at": stamp(a.Created),
			"dismissed_at": nil, "dismissed_by": nil, "dismissed_reason": nil, "dismissed_comment": nil, "fixed_at": nil, "auto_dismissed_at": nil,
			"repository": s.minimalRepo(r, it.repo),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) codeScanningAlerts(w http.ResponseWriter, r *http.Request) {
	if s.opts.NoAdvancedSecurity {
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "Advanced Security must be enabled for this repository to use code scanning.",
			"documentation_url": "https://docs.github.com/rest/code-scanning/code-scanning#list-code-scanning-alerts-for-an-organization", "status": "403"})
		return
	}
	type item struct {
		repo *Repo
		a    CodeAlert
	}
	var all []item
	for _, repo := range s.org.Repos {
		for _, a := range repo.CodeAlerts {
			all = append(all, item{repo, a})
		}
	}
	lo, hi := s.paginate(w, r, len(all))
	out := []map[string]any{}
	for _, it := range all[lo:hi] {
		a, full := it.a, s.org.Login+"/"+it.repo.Name
		out = append(out, map[string]any{
			"number": a.Number, "created_at": stamp(a.Created), "updated_at": stamp(a.Created), "state": "open",
			"url":      s.apiURL(r, fmt.Sprintf("repos/%s/code-scanning/alerts/%d", full, a.Number)),
			"html_url": fmt.Sprintf("https://github.com/%s/security/code-scanning/%d", full, a.Number),
			"fixed_at": nil, "dismissed_by": nil, "dismissed_at": nil, "dismissed_reason": nil, "dismissed_comment": nil,
			"rule": map[string]any{"id": a.RuleID, "severity": "error", "security_severity_level": a.Severity,
				"description": "Database query built from user-controlled sources", "name": a.RuleID, "tags": []string{"security", "external/cwe/cwe-089"}},
			"tool": map[string]any{"name": a.Tool, "guid": nil, "version": "2.16.1"},
			"most_recent_instance": map[string]any{"ref": "refs/heads/" + it.repo.DefaultBranch, "analysis_key": ".github/workflows/codeql.yml:analyze",
				"environment": "{}", "category": ".github/workflows/codeql.yml:analyze", "state": "open", "commit_sha": fmt.Sprintf("%040x", it.repo.ID),
				"message":  map[string]any{"text": "This query depends on a user-provided value."},
				"location": map[string]any{"path": "src/db.js", "start_line": 42, "end_line": 42, "start_column": 7, "end_column": 31}, "classifications": []string{}},
			"instances_url": s.apiURL(r, fmt.Sprintf("repos/%s/code-scanning/alerts/%d/instances", full, a.Number)),
			"repository":    s.minimalRepo(r, it.repo),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) secretScanningAlerts(w http.ResponseWriter, r *http.Request) {
	hide := r.URL.Query().Get("hide_secret") == "true"
	type item struct {
		repo *Repo
		a    SecretAlert
	}
	var all []item
	for _, repo := range s.org.Repos {
		if s.opts.NoAdvancedSecurity && repo.Visibility != "public" {
			continue // secret scanning is free for public repositories only
		}
		for _, a := range repo.SecretAlerts {
			all = append(all, item{repo, a})
		}
	}
	lo, hi := s.paginate(w, r, len(all))
	out := []map[string]any{}
	for _, it := range all[lo:hi] {
		a, full := it.a, s.org.Login+"/"+it.repo.Name
		m := map[string]any{
			"number": a.Number, "created_at": stamp(a.Created), "updated_at": stamp(a.Created), "state": "open",
			"url":           s.apiURL(r, fmt.Sprintf("repos/%s/secret-scanning/alerts/%d", full, a.Number)),
			"html_url":      fmt.Sprintf("https://github.com/%s/security/secret-scanning/%d", full, a.Number),
			"locations_url": s.apiURL(r, fmt.Sprintf("repos/%s/secret-scanning/alerts/%d/locations", full, a.Number)),
			"resolution":    nil, "resolved_at": nil, "resolved_by": nil, "resolution_comment": nil,
			"secret_type": a.SecretType, "secret_type_display_name": "Amazon AWS Access Key ID", "validity": "unknown",
			"push_protection_bypassed": a.Bypassed, "push_protection_bypassed_by": nil, "push_protection_bypassed_at": nil,
			"publicly_leaked": false, "multi_repo": false, "repository": s.minimalRepo(r, it.repo),
		}
		if !hide {
			m["secret"] = a.Secret
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}
