//go:build ignore

// regen writes the reference extracts of this folder from the published sources (see
// PROVENANCE.md); run it through regen.sh.
//
//	go run regen.go -sdk DIR [-docs DIR]
//
// -sdk is the module directory of msgraph-sdk-go: from its generated models it writes
// sdk-models.json, the entity and complex types reachable from the types the connector
// reads (property names and their types, derived types by @odata.type) and every enum
// they use (the members of each enum type's String()). No code is copied: the extract is
// the names only.
//
// -docs is a checkout of microsoft-graph-docs-contrib: for each line of docs.tsv it writes
// the JSON body of the n-th documented response example of that API page to docs/.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// roots are the types of the responses the connector reads.
var roots = []string{
	"ConditionalAccessPolicy", "NamedLocation", "AuthenticationStrengthPolicy", "SubscribedSku",
	"IdentitySecurityDefaultsEnforcementPolicy", "AuthenticationMethodsPolicy", "AuthorizationPolicy",
	"AdminConsentRequestPolicy", "Domain", "GroupSetting", "UnifiedRoleDefinition", "UnifiedRoleAssignment",
	"UnifiedRoleEligibilitySchedule", "UnifiedRoleAssignmentScheduleInstance", "UnifiedRoleManagementPolicyAssignment",
	"AccessReviewScheduleDefinition", "User", "Group", "ServicePrincipal", "Fido2AuthenticationMethod", "UserRegistrationDetails",
	"DirectoryAudit", "SignIn", "ManagedDevice", "DeviceCompliancePolicy", "WindowsProtectionState",
	// Entities that these responses carry inline (navigation properties Graph returns or
	// the connector expands).
	"AuthenticationMethodConfiguration", "DeviceCompliancePolicyAssignment", "UnifiedRoleManagementPolicy",
	"UnifiedRoleManagementPolicyRule", "AuthenticationMethodTarget",
}

// edm names the primitive types by their getters.
var edm = map[string]string{"String": "String", "Bool": "Boolean", "Int32": "Int32", "Int64": "Int64", "Float32": "Single",
	"Float64": "Double", "Time": "DateTimeOffset", "UUID": "Guid", "ByteArray": "Binary", "DateOnly": "Date",
	"TimeOnly": "TimeOfDay", "ISODuration": "Duration", "Int8": "SByte", "Byte": "Byte", "string": "String",
	"bool": "Boolean", "int32": "Int32", "int64": "Int64", "float64": "Double", "uuid": "Guid"}

type property struct {
	Type       string `json:"type"`
	Collection bool   `json:"collection,omitempty"`
}

type typeDef struct {
	Base       string              `json:"base,omitempty"`
	Derived    []string            `json:"derived,omitempty"`
	Properties map[string]property `json:"properties"`
}

type extract struct {
	Source string              `json:"source"`
	Types  map[string]*typeDef `json:"types"`
	Enums  map[string][]string `json:"enums"`
}

var (
	reStruct   = regexp.MustCompile(`(?m)^type (\w+) struct \{\n\s+(\w+)?`)
	reField    = regexp.MustCompile(`res\["([^"]+)"\] = func[^\n]*\n\s+val, err := n\.(\w+)\(([^)]*)\)`)
	reCase     = regexp.MustCompile(`case "#microsoft\.graph\.(\w+)":\s*\n\s*return New(\w+)\(\)`)
	reEnumStr  = regexp.MustCompile(`(?s)func \(i (\w+)\) String\(\) string \{\s*return \[\]string\{([^}]*)\}\[i\]`)
	reFlagsStr = regexp.MustCompile(`(?s)func \(i (\w+)\) String\(\) string \{.*?options := \[\]string\{([^}]*)\}`)
	reQuoted   = regexp.MustCompile(`"([^"]*)"`)
)

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

func main() {
	sdk := flag.String("sdk", "", "module directory of msgraph-sdk-go")
	docs := flag.String("docs", "", "checkout of microsoft-graph-docs-contrib (optional)")
	flag.Parse()
	if *sdk == "" {
		log.Fatal("-sdk is required")
	}
	models := filepath.Join(*sdk, "models")
	files, err := filepath.Glob(filepath.Join(models, "*.go"))
	if err != nil {
		log.Fatal(err)
	}
	src := map[string]string{}     // Go type → file text
	enums := map[string][]string{} // Go enum type → members
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		text := string(b)
		for _, m := range reStruct.FindAllStringSubmatch(text, -1) {
			src[m[1]] = text
		}
		for _, re := range []*regexp.Regexp{reEnumStr, reFlagsStr} {
			for _, m := range re.FindAllStringSubmatch(text, -1) {
				var vals []string
				for _, q := range reQuoted.FindAllStringSubmatch(m[2], -1) {
					vals = append(vals, q[1])
				}
				enums[m[1]] = vals
			}
		}
	}
	out := extract{Source: filepath.Base(*sdk), Types: map[string]*typeDef{}, Enums: map[string][]string{}}
	base := func(goType string) string {
		m := regexp.MustCompile(`(?m)^type ` + goType + ` struct \{\n\s+(\w+)\n`).FindStringSubmatch(src[goType])
		if m == nil || src[m[1]] == "" {
			return ""
		}
		return m[1]
	}
	// Entities other than the roots (and their derived types) are named, not described:
	// they are navigation properties, which Graph returns only when expanded.
	isEntity := func(goType string) bool {
		for t := goType; t != ""; t = base(t) {
			if t == "Entity" {
				return true
			}
		}
		return false
	}
	isRoot := map[string]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	queue := append([]string(nil), roots...)
	for len(queue) > 0 {
		goType := queue[0]
		queue = queue[1:]
		name := lowerFirst(goType)
		if _, done := out.Types[name]; done {
			continue
		}
		text, ok := src[goType]
		if !ok {
			log.Fatalf("no model for %s", goType)
		}
		td := &typeDef{Properties: map[string]property{}}
		out.Types[name] = td
		if b := base(goType); b != "" {
			td.Base = lowerFirst(b)
			queue = append(queue, b)
		}
		// Only this type's own deserializers: the text from its GetFieldDeserializers to the next func.
		start := strings.Index(text, "func (m *"+goType+") GetFieldDeserializers()")
		if start < 0 {
			log.Fatalf("no deserializers for %s", goType)
		}
		body := text[start:]
		if end := strings.Index(body[1:], "\nfunc "); end > 0 {
			body = body[:end+1]
		}
		for _, m := range reField.FindAllStringSubmatch(body, -1) {
			prop, getter, arg := m[1], m[2], m[3]
			p := property{Collection: strings.HasPrefix(getter, "GetCollectionOf")}
			switch {
			case strings.Contains(getter, "ObjectValue") && strings.Contains(arg, "."):
				p.Type = "Edm.Untyped" // a JSON value of any shape
			case strings.Contains(getter, "ObjectValue"):
				t := strings.TrimSuffix(strings.TrimPrefix(arg, "Create"), "FromDiscriminatorValue")
				p.Type = lowerFirst(t)
				if !isEntity(t) || isRoot[t] {
					queue = append(queue, t)
				}
			case strings.Contains(getter, "EnumValue"):
				t := strings.TrimPrefix(arg, "Parse")
				if enums[t] == nil {
					log.Fatalf("no members for enum %s", t)
				}
				p.Type = "enum:" + lowerFirst(t)
				out.Enums[lowerFirst(t)] = enums[t]
			case getter == "GetCollectionOfPrimitiveValues":
				p.Type = "Edm." + edm[strings.Trim(arg, `"`)]
			default:
				p.Type = "Edm." + edm[strings.TrimSuffix(strings.TrimPrefix(getter, "Get"), "Value")]
			}
			td.Properties[prop] = p
		}
		create := text[strings.Index(text, "func Create"+goType+"FromDiscriminatorValue"):]
		if end := strings.Index(create[1:], "\nfunc "); end > 0 {
			create = create[:end+1]
		}
		for _, m := range reCase.FindAllStringSubmatch(create, -1) {
			// The derived types of a base reached through inheritance (entity) are not
			// responses of the connector; those of the types it reads are.
			if m[2] != goType && (isRoot[goType] || !isEntity(goType)) {
				td.Derived = append(td.Derived, m[1])
				queue = append(queue, m[2])
				isRoot[m[2]] = true
			}
		}
		sort.Strings(td.Derived)
	}
	write("sdk-models.json", out)
	if *docs != "" {
		extractDocs(*docs)
	}
}

func write(name string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

// extractDocs writes the response examples listed in docs.tsv (page, example number from
// 1, output file).
func extractDocs(docs string) {
	f, err := os.Open("docs.tsv")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 3 {
			log.Fatalf("docs.tsv: want page, example, output: %q", line)
		}
		n, err := strconv.Atoi(cols[1])
		if err != nil {
			log.Fatal(err)
		}
		page, err := os.ReadFile(filepath.Join(docs, "api-reference", "v1.0", "api", cols[0]))
		if err != nil {
			log.Fatal(err)
		}
		body, err := responseExample(string(page), n)
		if err != nil {
			log.Fatalf("%s: %v", cols[0], err)
		}
		// Keep the example's key order: indent the body as it is.
		var buf bytes.Buffer
		if err := json.Indent(&buf, []byte(body), "", "  "); err != nil {
			log.Fatalf("%s example %d: %v", cols[0], n, err)
		}
		buf.WriteByte('\n')
		if err := os.WriteFile(filepath.Join("docs", cols[2]), buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
}

// responseExample returns the JSON body of the n-th block the page marks as
// "blockType": "response": the fenced HTTP response after the marker, headers removed.
func responseExample(page string, n int) (string, error) {
	rest := page
	for i := 1; ; i++ {
		at := strings.Index(rest, `"blockType": "response"`)
		if at < 0 {
			return "", fmt.Errorf("no response example %d", n)
		}
		rest = rest[at:]
		open := strings.Index(rest, "```")
		if open < 0 {
			return "", fmt.Errorf("response example %d has no code block", i)
		}
		block := rest[open+3:]
		block = block[strings.Index(block, "\n")+1:]
		end := strings.Index(block, "```")
		if end < 0 {
			return "", fmt.Errorf("response example %d is not closed", i)
		}
		rest = block[end:]
		if i < n {
			continue
		}
		body := block[:end]
		if j := strings.Index(body, "{"); j >= 0 {
			body = body[j:]
		}
		return body, nil
	}
}
