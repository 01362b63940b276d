package sim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
)

func (s *Sim) repoJSON(r *http.Request, repo *Repo) map[string]any {
	topics := append([]string{}, repo.Topics...)
	out := s.minimalRepo(r, repo)
	for k, v := range map[string]any{
		"visibility": repo.Visibility, "archived": repo.Archived, "disabled": false, "topics": topics,
		"created_at": stamp(repo.CreatedAt), "updated_at": stamp(repo.PushedAt), "pushed_at": stamp(repo.PushedAt),
		"default_branch": repo.DefaultBranch, "size": 1024 + repo.ID%4096, "language": "Go",
		"has_issues": true, "has_projects": false, "has_wiki": false, "allow_forking": false, "is_template": false,
		"permissions": map[string]any{"admin": true, "maintain": true, "push": true, "triage": true, "pull": true},
		"security_and_analysis": map[string]any{
			"advanced_security": status(repo.AdvancedSecurity), "secret_scanning": status(repo.SecretScanning),
			"secret_scanning_push_protection": status(repo.PushProtection), "dependabot_security_updates": status(repo.DependabotUpdates),
			"secret_scanning_non_provider_patterns": status("disabled"), "secret_scanning_validity_checks": status("disabled"),
		},
	} {
		out[k] = v
	}
	if s.opts.Access == AccessMember {
		// security_and_analysis is shown to repository admins, owners and security managers.
		delete(out, "security_and_analysis")
		out["permissions"] = map[string]any{"admin": false, "maintain": false, "push": false, "triage": false, "pull": true}
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
	if s.opts.Access == AccessWrite {
		// "only returned if the user making the API request has write access to the ruleset"
		out["bypass_actors"] = bypass
	}
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

// branchRules implements GET /repos/{owner}/{repo}/rules/branches/{branch}: every rule of
// the active rulesets (repository and organisation) whose ref_name condition selects the
// branch, each with the ruleset it comes from.
func (s *Sim) branchRules(w http.ResponseWriter, r *http.Request, repo *Repo) {
	if s.opts.NoBranchRules {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	if s.planBlocks(w, repo) {
		return
	}
	branch := r.PathValue("branch")
	var out []map[string]any
	for _, rs := range s.rulesetsFor(repo, true) {
		if rs.Enforcement != "active" || rs.Target != "branch" || !refSelected(rs, branch, repo.DefaultBranch) {
			continue
		}
		sourceType, source := "Repository", s.org.Login+"/"+repo.Name
		if slices.Contains(s.org.Rulesets, rs) {
			sourceType, source = "Organization", s.org.Login
		}
		for _, rule := range rs.Rules {
			m := map[string]any{"type": rule.Type, "ruleset_source_type": sourceType, "ruleset_source": source, "ruleset_id": rs.ID}
			if rule.Params != nil {
				m["parameters"] = rule.Params
			}
			out = append(out, m)
		}
	}
	lo, hi := s.paginate(w, r, len(out))
	writeJSON(w, http.StatusOK, append([]map[string]any{}, out[lo:hi]...))
}

// refSelected reports whether a ruleset's ref_name condition selects the branch.
func refSelected(rs *Ruleset, branch, defaultBranch string) bool {
	match := func(p string) bool {
		switch p {
		case "~ALL":
			return true
		case "~DEFAULT_BRANCH":
			return branch == defaultBranch
		}
		ok, _ := path.Match(strings.ReplaceAll(p, "**", "*"), "refs/heads/"+branch)
		return ok
	}
	return slices.ContainsFunc(rs.Include, match) && !slices.ContainsFunc(rs.Exclude, match)
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
	// "The authenticated user must have admin read access to the repository": others get
	// the 404 that also means "disabled".
	if repo.DependabotAlertsEnabled && s.opts.Access != AccessMember {
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
	if path.Base(p) == "CODEOWNERS" {
		body = "* @" + s.org.Login + "/maintainers\n"
	}
	full := s.org.Login + "/" + repo.Name
	sha := fmt.Sprintf("%040x", userID(full+p))
	writeJSON(w, http.StatusOK, map[string]any{
		"type": "file", "encoding": "base64", "size": len(body), "name": path.Base(p), "path": p,
		"content": base64.StdEncoding.EncodeToString([]byte(body)), "sha": sha,
		"url": s.apiURL(r, "repos/"+full+"/contents/"+p), "html_url": "https://github.com/" + full + "/blob/" + repo.DefaultBranch + "/" + p,
		"download_url": "https://raw.githubusercontent.com/" + full + "/" + repo.DefaultBranch + "/" + p,
		"git_url":      s.apiURL(r, "repos/"+full+"/git/blobs/"+sha),
		"_links": map[string]any{"self": s.apiURL(r, "repos/"+full+"/contents/"+p), "git": s.apiURL(r, "repos/"+full+"/git/blobs/"+sha),
			"html": "https://github.com/" + full + "/blob/" + repo.DefaultBranch + "/" + p},
	})
}
