package sim

import (
	"fmt"
	"net/http"
	"regexp"
)

var severityRank = regexp.MustCompile(`^(critical|high|medium|low)$`)

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
		// The description documents 200, 404 and 503 for this listing.
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Code scanning is not enabled for any repository of this organization.",
			"documentation_url": "https://docs.github.com/rest/code-scanning/code-scanning#list-code-scanning-alerts-for-an-organization", "status": "404"})
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
