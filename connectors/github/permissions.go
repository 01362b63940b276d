package github

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// fineGrainedNames are the App permissions as fine-grained personal access tokens name them.
var fineGrainedNames = map[string]string{
	"administration":              "Repository permissions → Administration",
	"contents":                    "Repository permissions → Contents",
	"metadata":                    "Repository permissions → Metadata",
	"secret_scanning_alerts":      "Repository permissions → Secret scanning alerts",
	"security_events":             "Repository permissions → Code scanning alerts",
	"vulnerability_alerts":        "Repository permissions → Dependabot alerts",
	"members":                     "Organization permissions → Members",
	"organization_administration": "Organization permissions → Administration",
	"organization_hooks":          "Organization permissions → Webhooks",
}

// AppManifest returns the GitHub App manifest (https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest)
// for an App with exactly the read permissions the connector declares, no webhook and no
// events. deploy/github/app-manifest.json is this output; a test keeps them equal.
func AppManifest() []byte {
	perms := map[string]string{}
	for _, p := range (&Factory{}).Permissions() {
		name, level, _ := strings.Cut(p.Name, ":")
		perms[name] = level
	}
	m := struct {
		Name               string            `json:"name"`
		URL                string            `json:"url"`
		Description        string            `json:"description"`
		Public             bool              `json:"public"`
		HookAttributes     map[string]any    `json:"hook_attributes"`
		DefaultPermissions map[string]string `json:"default_permissions"`
		DefaultEvents      []string          `json:"default_events"`
	}{
		Name:        "Exhibit evidence collector",
		URL:         "https://github.com/exhibit-dev/exhibit",
		Description: "Read-only collection of ISO 27001 audit evidence: organisation settings, branch protection, access and security alerts.",
		HookAttributes: map[string]any{
			"url": "https://example.invalid/exhibit-does-not-use-webhooks", "active": false,
		},
		DefaultPermissions: perms,
		DefaultEvents:      []string{},
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

// AppPermissionsMarkdown documents, per permission, why the connector needs it: the kinds
// and the REST calls. deploy/github/app-permissions.md is this output.
func AppPermissionsMarkdown() []byte {
	var b bytes.Buffer
	b.WriteString("# GitHub App permissions of the github connector\n\n")
	b.WriteString("Generated from `connectors/github/factory.go` (`go test ./connectors/github -run TestDeployFiles -update`);\n")
	b.WriteString("do not edit by hand. Every permission is **read**; the App needs no webhook and subscribes to no events.\n")
	b.WriteString("A fine-grained personal access token needs the same permissions; a classic token the scopes below.\n")
	b.WriteString("Create the App from `app-manifest.json`, install it on the organisation, and configure\n")
	b.WriteString("`app: {app_id, installation_id, private_key_file}` in the connector's settings.\n\n")
	b.WriteString("| Permission | Access | Artefact kinds |\n|---|---|---|\n")
	for _, p := range (&Factory{}).Permissions() {
		name, level, _ := strings.Cut(p.Name, ":")
		ks := append([]string(nil), p.Kinds...)
		sort.Strings(ks)
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, level, "`"+strings.Join(ks, "`, `")+"`")
	}
	b.WriteString("\n## Calls per artefact kind\n\n| Kind | Scope | REST calls | App permissions | Classic scopes |\n|---|---|---|---|---|\n")
	list := func(xs []string) string {
		if len(xs) == 0 {
			return "none"
		}
		return "`" + strings.Join(xs, "`, `") + "`"
	}
	for _, k := range kinds {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.Name, k.Scope, "`"+strings.Join(k.Endpoints, "`<br>`")+"`", list(k.Permissions), list(k.ClassicScopes))
	}
	b.WriteString("\n## Fine-grained personal access token\n\n")
	b.WriteString("The same permissions, read-only, under their names in the token settings (resource owner: the organisation;\n")
	b.WriteString("repository access: all repositories):\n\n| App permission | Fine-grained token permission |\n|---|---|\n")
	for _, p := range (&Factory{}).Permissions() {
		name, _, _ := strings.Cut(p.Name, ":")
		fmt.Fprintf(&b, "| `%s` | %s: Read-only |\n", name, fineGrainedNames[name])
	}
	b.WriteString("\n## Personal access token (classic)\n\n")
	b.WriteString("Classic scopes cannot be read-only for everything the connector reads: `admin:org` (organisation settings and\n")
	b.WriteString("the Actions policy, as GitHub's description of those operations says) also grants write access to the organisation,\n")
	b.WriteString("`admin:org_hook` full control of its webhooks, `repo` full control of private repositories. Prefer the App or a\n")
	b.WriteString("fine-grained token; if a classic token is used, it needs:\n\n| Scope | Artefact kinds |\n|---|---|\n")
	byScope := map[string][]string{}
	for _, k := range kinds {
		for _, sc := range k.ClassicScopes {
			byScope[sc] = append(byScope[sc], k.Name)
		}
	}
	scopes := make([]string, 0, len(byScope))
	for sc := range byScope {
		scopes = append(scopes, sc)
	}
	sort.Strings(scopes)
	for _, sc := range scopes {
		ks := byScope[sc]
		sort.Strings(ks)
		fmt.Fprintf(&b, "| `%s` | %s |\n", sc, "`"+strings.Join(ks, "`, `")+"`")
	}
	b.WriteString(`
## Notes

- Organisation owners' settings (two_factor_requirement_enabled, default_repository_permission,
  the members' 2FA filters) are only shown to owners; for a GitHub App that is
  ` + "`organization_administration: read`" + `. Without it the artefacts become forbidden gaps.
- A ruleset's bypass actors are returned only to callers with write access to the ruleset
  (repository administration, or organisation administration for organisation rulesets).
  The connector stays read-only: where they are not returned, the effective protection says
  so (bypass_not_visible) and the no-bypass rule gives an error naming the rulesets, never a
  pass. Granting ` + "`administration: write`" + ` and ` + "`organization_administration: write`" + ` would let
  it see them, but also change every repository's and the organisation's settings.
- The organisation audit log API exists on GitHub Enterprise Cloud only; elsewhere the
  artefact is a not_available gap.
- Code scanning and (for private repositories) secret scanning need GitHub Advanced Security
  (Code Security / Secret Protection); without it those artefacts are not_available gaps.
- Tested against GitHub's REST API description (connectors/github/testdata/reference): every
  call above is an operation of the description that is enabled for GitHub Apps, and each
  kind's classic scopes include the scopes its operations' descriptions name. The App and
  fine-grained permissions are GitHub's documented requirements per endpoint, which the
  description does not carry.
`)
	return b.Bytes()
}
