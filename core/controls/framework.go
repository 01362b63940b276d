package controls

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// FrameworkSchemaVersion is the only custom framework file format version this package reads.
const FrameworkSchemaVersion = 1

var (
	frameworkFileKeys = []string{"version", "id", "title", "attribution", "controls"}
	frameworkCtlKeys  = []string{"id", "title", "title_de", "maps_to"}
	frameworkIDRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
)

// AddFramework parses a custom framework file and adds it to c. The format:
//
//	version: 1
//	id: soc2-2017                       # lower case; must not clash with another framework
//	title: SOC 2 Trust Services Criteria (2017)
//	attribution: AICPA TSC 2017, ids and short titles only   # optional
//	controls:
//	  - id: CC6.1
//	    title: Logical access security software, infrastructure and architectures
//	    title_de: …                     # optional
//	    maps_to:                        # optional: controls of other frameworks that prove it
//	      iso27001-2022: [A.5.15, A.8.2, A.8.5]
//
// A rule proves a custom control when it names it directly (`controls: {soc2-2017: [CC6.1]}`)
// or when it proves one of the controls in maps_to, so every ISO-mapped rule applies without
// touching the rules files. Errors name file:line and the control id.
func (c *Catalog) AddFramework(file string, data []byte) (*Framework, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty framework file", file)
		}
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a framework file is a mapping with version, id, title and controls", file, root.Line)
	}
	if err := checkMappingKeys(file, root, frameworkFileKeys, "the framework file"); err != nil {
		return nil, err
	}
	str := func(key string) (string, int) {
		if v := mappingValue(root, key); v != nil {
			return v.Value, v.Line
		}
		return "", root.Line
	}
	if v, line := str("version"); v != fmt.Sprint(FrameworkSchemaVersion) {
		return nil, fmt.Errorf("%s:%d: framework file version %q is not supported (want %d)", file, line, v, FrameworkSchemaVersion)
	}
	id, idLine := str("id")
	if !frameworkIDRE.MatchString(id) {
		return nil, fmt.Errorf("%s:%d: framework id %q must be lower-case letters, digits, '.', '_' and '-'", file, idLine, id)
	}
	if c.Framework(id) != nil {
		return nil, fmt.Errorf("%s:%d: framework %q is already defined", file, idLine, id)
	}
	title, titleLine := str("title")
	if strings.TrimSpace(title) == "" {
		return nil, fmt.Errorf("%s:%d: framework %s: title is required", file, titleLine, id)
	}
	attribution, _ := str("attribution")
	f := &Framework{ID: id, Title: title, Attribution: attribution, Custom: true, File: file, Line: root.Line}
	ctls := mappingValue(root, "controls")
	if ctls == nil || ctls.Kind != yaml.SequenceNode || len(ctls.Content) == 0 {
		return nil, fmt.Errorf("%s:%d: framework %s: controls must be a non-empty list", file, root.Line, id)
	}
	var errs []error
	for _, n := range ctls.Content {
		ctl, err := c.frameworkControl(file, id, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := f.add(ctl); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, n.Line, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := c.addFramework(f); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, idLine, err)
	}
	return f, nil
}

func (c *Catalog) frameworkControl(file, fw string, n *yaml.Node) (*Control, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: framework %s: a control must be a mapping with id and title", file, n.Line, fw)
	}
	if err := checkMappingKeys(file, n, frameworkCtlKeys, "a control of framework "+fw); err != nil {
		return nil, err
	}
	var y struct {
		ID      string              `yaml:"id"`
		Title   string              `yaml:"title"`
		TitleDE string              `yaml:"title_de"`
		MapsTo  map[string][]string `yaml:"maps_to"`
	}
	if err := n.Decode(&y); err != nil {
		return nil, fmt.Errorf("%s:%d: framework %s: %s", file, n.Line, fw, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if strings.TrimSpace(y.ID) == "" || strings.TrimSpace(y.Title) == "" {
		return nil, fmt.Errorf("%s:%d: framework %s: a control needs an id and a title", file, n.Line, fw)
	}
	line := n.Line
	if k := mappingKey(n, "maps_to"); k != nil {
		line = k.Line
	}
	targets := make([]string, 0, len(y.MapsTo))
	for t := range y.MapsTo {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		tf := c.Framework(t)
		if tf == nil {
			return nil, fmt.Errorf("%s:%d: framework %s control %s: maps_to names unknown framework %q (known: %s)",
				file, line, fw, y.ID, t, strings.Join(c.FrameworkIDs(), ", "))
		}
		for _, id := range y.MapsTo[t] {
			tc := tf.Control(id)
			if tc == nil {
				return nil, fmt.Errorf("%s:%d: framework %s control %s: maps_to names unknown control %q of %s", file, line, fw, y.ID, id, t)
			}
			if !tc.Assessable() {
				return nil, fmt.Errorf("%s:%d: framework %s control %s: %s %q is a %s, not a control", file, line, fw, y.ID, t, id, tc.Kind)
			}
		}
	}
	title := y.Title
	return &Control{ID: y.ID, Title: title, TitleDE: y.TitleDE, Kind: "control", MapsTo: y.MapsTo}, nil
}
