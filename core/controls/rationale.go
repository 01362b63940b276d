package controls

import (
	"fmt"
	"sort"
)

// MissingRationale lists every mapping of a rule to a control that has no rationale, one
// problem per mapping as "file:line: rule <id>: <framework> <control> has no rationale",
// in rule order. Derived mappings are not listed on their own: they inherit the rationale of
// the mapping they come from, which is listed instead.
//
// Every rule Exhibit ships must map with rationales; connectors assert it in their tests:
//
//	rs, _ := controls.ParseRules("rules.yaml", data)
//	for _, p := range controls.MissingRationale(rs) { t.Error(p) }
//
// Rules a user adds through the config may use the plain list form; their mappings have no
// rationale, and outputs say so rather than refusing the rules.
func MissingRationale(rs *RuleSet) []string {
	var out []string
	for _, r := range rs.Rules() {
		fws := make([]string, 0, len(r.Controls))
		for fw := range r.Controls {
			if !r.Derived[fw] {
				fws = append(fws, fw)
			}
		}
		sort.Strings(fws)
		for _, fw := range fws {
			for _, id := range r.Controls[fw] {
				if r.Rationale[fw][id] == "" {
					out = append(out, fmt.Sprintf("%s:%d: rule %s: %s %s has no rationale", r.File, r.Line, r.ID, fw, id))
				}
			}
		}
	}
	return out
}
