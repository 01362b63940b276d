package msgraph

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// PermissionsMarkdown renders deploy/msgraph/permissions.md from the declared kinds: the
// Microsoft Graph application permissions to grant (all read-only) and the calls each
// artefact kind makes.
func PermissionsMarkdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Microsoft Graph application permissions of the msgraph connector\n\n")
	b.WriteString("Generated from `connectors/msgraph/factory.go` (`go test ./connectors/msgraph -run TestDeployFiles -update`);\n")
	b.WriteString("do not edit by hand. Every permission is a **read** permission; the connector makes no change\n")
	b.WriteString("in the tenant (its only POST is a JSON `$batch` of GET requests). Grant them as *application*\n")
	b.WriteString("permissions to the app registration and give admin consent. A missing permission makes the\n")
	b.WriteString("kinds that need it `forbidden` gaps; a missing licence (Entra ID P1/P2, Intune) `not_licensed` gaps.\n\n")
	b.WriteString("| Permission | Artefact kinds |\n|---|---|\n")
	perms := Factory{}.Permissions()
	sort.Slice(perms, func(i, j int) bool { return perms[i].Name < perms[j].Name })
	for _, p := range perms {
		ks := append([]string(nil), p.Kinds...)
		sort.Strings(ks)
		fmt.Fprintf(&b, "| `%s` | %s |\n", p.Name, code(ks))
	}
	b.WriteString("\n## Calls per artefact kind\n\n| Kind | Graph v1.0 calls | Permissions |\n|---|---|---|\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.name, code(k.calls), code(k.permissions))
	}
	b.WriteString("\nThe identity reports and audit logs are limited to 5 requests per 10 s per app and tenant,\n")
	b.WriteString("conditional access to 1 request per second per tenant; the connector spaces its requests\n")
	b.WriteString("accordingly (settings `rate_limits`).\n")
	return b.Bytes()
}

func code(l []string) string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
	}
	return strings.Join(out, "<br>")
}
