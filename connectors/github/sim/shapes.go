package sim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The full shapes GitHub's description requires for users and repositories: every URL
// field of simple-user and minimal-repository, so the simulator's answers validate against
// the description (description_test.go in the connector).

func user(login string) map[string]any {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	api := "https://api.github.com/users/" + login
	return map[string]any{
		"login": login, "id": userID(login), "node_id": "U_" + base64.RawStdEncoding.EncodeToString([]byte(login)),
		"avatar_url":  "https://avatars.githubusercontent.com/u/" + strconv.FormatInt(userID(login), 10) + "?v=4",
		"gravatar_id": "", "url": api, "html_url": "https://github.com/" + login,
		"followers_url": api + "/followers", "following_url": api + "/following{/other_user}", "gists_url": api + "/gists{/gist_id}",
		"starred_url": api + "/starred{/owner}{/repo}", "subscriptions_url": api + "/subscriptions", "organizations_url": api + "/orgs",
		"repos_url": api + "/repos", "events_url": api + "/events{/privacy}", "received_events_url": api + "/received_events",
		"type": typ, "site_admin": false, "user_view_type": "public",
	}
}

// orgOwner is the organisation as a repository's owner (a simple-user of type Organization).
func (s *Sim) orgOwner() map[string]any {
	u := user(s.org.Login)
	u["type"] = "Organization"
	return u
}

// repoURLs are the URL templates every repository object carries.
func (s *Sim) repoURLs(r *http.Request, full string) map[string]any {
	api := s.apiURL(r, "repos/"+full)
	out := map[string]any{"url": api, "html_url": "https://github.com/" + full}
	for _, k := range []string{"forks", "keys{/key_id}", "collaborators{/collaborator}", "teams", "hooks", "issues/events{/number}",
		"events", "assignees{/user}", "branches{/branch}", "tags", "git/blobs{/sha}", "git/tags{/sha}", "git/refs{/sha}",
		"git/trees{/sha}", "statuses/{sha}", "languages", "stargazers", "contributors", "subscribers", "subscription",
		"commits{/sha}", "git/commits{/sha}", "comments{/number}", "issues/comments{/number}", "contents/{+path}",
		"compare/{base}...{head}", "merges", "{archive_format}{/ref}", "downloads", "issues{/number}", "pulls{/number}",
		"milestones{/number}", "notifications{?since,all,participating}", "labels{/name}", "releases{/id}", "deployments"} {
		name := k
		if i := strings.IndexAny(name, "{"); i >= 0 {
			name = name[:i]
		}
		name = strings.TrimSuffix(strings.ReplaceAll(name, "/", "_"), "_")
		switch name {
		case "":
			name = "archive"
		case "git_blobs":
			name = "blobs"
		case "git_trees":
			name = "trees"
		case "git_refs", "git_tags", "git_commits", "issue_comment":
		case "issues_events":
			name = "issue_events"
		case "issues_comments":
			name = "issue_comment"
		case "statuses_":
			name = "statuses"
		case "compare_":
			name = "compare"
		}
		out[name+"_url"] = api + "/" + k
	}
	return out
}

// minimalRepo is the minimal-repository GitHub embeds in alerts.
func (s *Sim) minimalRepo(r *http.Request, repo *Repo) map[string]any {
	full := s.org.Login + "/" + repo.Name
	out := s.repoURLs(r, full)
	for k, v := range map[string]any{
		"id": repo.ID, "node_id": fmt.Sprintf("R_sim%d", repo.ID), "name": repo.Name, "full_name": full, "private": repo.Visibility != "public",
		"owner": s.orgOwner(), "description": "Simulated repository " + repo.Name, "fork": repo.Fork,
	} {
		out[k] = v
	}
	return out
}
