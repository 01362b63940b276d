package github

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

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
	b.WriteString("Create the App from `app-manifest.json`, install it on the organisation, and configure\n")
	b.WriteString("`app: {app_id, installation_id, private_key_file}` in the connector's settings.\n\n")
	b.WriteString("| Permission | Access | Artefact kinds |\n|---|---|---|\n")
	for _, p := range (&Factory{}).Permissions() {
		name, level, _ := strings.Cut(p.Name, ":")
		ks := append([]string(nil), p.Kinds...)
		sort.Strings(ks)
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, level, "`"+strings.Join(ks, "`, `")+"`")
	}
	b.WriteString("\n## Calls per artefact kind\n\n| Kind | Scope | REST calls | Permissions |\n|---|---|---|---|\n")
	for _, k := range kinds {
		perms := "none"
		if len(k.Permissions) > 0 {
			perms = "`" + strings.Join(k.Permissions, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Name, k.Scope, "`"+strings.Join(k.Endpoints, "`<br>`")+"`", perms)
	}
	b.WriteString(`
## Notes

- Organisation owners' settings (two_factor_requirement_enabled, default_repository_permission,
  the members' 2FA filter) are only shown to owners; for a GitHub App that is
  ` + "`organization_administration: read`" + `. Without it the artefacts become forbidden gaps.
- The organisation audit log API exists on GitHub Enterprise Cloud only; elsewhere the
  artefact is a not_available gap.
- Code scanning and (for private repositories) secret scanning need GitHub Advanced Security
  (Code Security / Secret Protection); without it those artefacts are not_available gaps.
- A personal access token needs the equivalent: fine-grained with the same read permissions,
  or classic with ` + "`read:org`, `repo`, `security_events`, `read:audit_log`" + ` (classic scopes
  are broader than read; prefer the App).
`)
	return b.Bytes()
}
