// Package controls maps evidence to controls: the embedded catalogues (ISO/IEC 27001:2022
// Annex A, BSI Grundschutz++, IT-Grundschutz-Kompendium 2023), rules files (YAML + CEL) that
// judge artefact documents, custom frameworks, the evaluation of a run's artefacts, and the
// control status over an audit period.
//
// The package knows nothing about HTTP or about any connector: a rule sees a kind, a subject
// and a JSON document.
package controls

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Framework ids of the built-in catalogues.
const (
	ISO27001    = "iso27001-2022"
	BSIGSPP     = "bsi-gspp"
	BSIKompend  = "bsi-kompendium-2023"
	bsiAttrib   = "BSI, Stand-der-Technik-Bibliothek (CC BY-SA 4.0)"
	isoAttrib   = "ISO/IEC 27001:2022 Annex A ids and short titles, via BSI, Stand-der-Technik-Bibliothek (CC BY-SA 4.0)"
	kompAttrib  = "BSI IT-Grundschutz-Kompendium Edition 2023 (ids and titles © BSI)"
	catalogsDir = "catalogs"
)

//go:embed catalogs/*.tsv catalogs/PROVENANCE.md
var catalogFS embed.FS

// Framework is a catalogue of controls that rules can prove: a built-in one or a custom one
// from a framework file.
type Framework struct {
	// ID names the framework in rules files, config and reports, e.g. "iso27001-2022".
	ID string
	// Title is a human-readable name.
	Title string
	// Attribution names the source and licence of the catalogue data; reports that list
	// the controls must carry it.
	Attribution string
	// Custom is true for frameworks loaded from a framework file.
	Custom bool
	// File and Line say where a custom framework was defined.
	File string
	Line int
	// Controls in catalogue order, including groups and modules (Kind "group"/"module").
	Controls []*Control
	byID     map[string]*Control
}

// Control is one entry of a framework.
type Control struct {
	ID string
	// Title is the English short title where the source has one, else the German one.
	Title string
	// TitleDE is the German short title where the source has one.
	TitleDE string
	// Kind is "control" for ISO and custom controls; "group", "control" or "sub-control"
	// for Grundschutz++; "module" or "requirement" for the Kompendium.
	Kind string
	// Group is the ISO theme (Organizational, People, Physical, Technological), the
	// Grundschutz++ catalogue part (Kernel, Methodik) or the Kompendium layer (APP, SYS, ...).
	Group string
	// Parent is the enclosing group, control or module ("" at the top).
	Parent string
	// Level is the Grundschutz++ sec_level (normal-SdT, erhöht) or the Kompendium level
	// (B basic, S standard, E elevated).
	Level string
	// Effort is the Grundschutz++ effort_level (0-5).
	Effort string
	// MapsTo, for a custom framework's control, lists controls of other frameworks whose
	// rules prove it too (framework id → control ids).
	MapsTo map[string][]string
}

// Assessable reports whether status and the Statement of Applicability list the control:
// groups and modules only structure a catalogue.
func (c *Control) Assessable() bool { return c.Kind != "group" && c.Kind != "module" }

// Control returns the control with that id, or nil.
func (f *Framework) Control(id string) *Control { return f.byID[id] }

// Assessable returns the controls that carry a status, in catalogue order.
func (f *Framework) Assessable() []*Control {
	out := make([]*Control, 0, len(f.Controls))
	for _, c := range f.Controls {
		if c.Assessable() {
			out = append(out, c)
		}
	}
	return out
}

func (f *Framework) add(c *Control) error {
	if f.byID == nil {
		f.byID = map[string]*Control{}
	}
	if _, dup := f.byID[c.ID]; dup {
		return fmt.Errorf("framework %s: duplicate control id %q", f.ID, c.ID)
	}
	f.byID[c.ID] = c
	f.Controls = append(f.Controls, c)
	return nil
}

// GSPPMapping is the BSI's relation of one Annex A control to Grundschutz++ controls.
type GSPPMapping struct {
	ISO          string
	Relationship string // subset-of, equivalent-to, intersects-with
	Targets      []string
	// Unresolved are targets the mapping names that the shipped Grundschutz++ catalogue
	// does not contain (the two BSI sources are of different dates); they are not derived.
	Unresolved []string
}

// Catalog is the set of frameworks rules may name. Built-in frameworks come from Builtin;
// custom ones are added with AddFramework. A Catalog is read-only once rules are parsed
// against it and safe for concurrent reads.
type Catalog struct {
	frameworks map[string]*Framework
	order      []string
	isoToGSPP  map[string][]GSPPMapping
}

// Framework returns the framework with that id, or nil.
func (c *Catalog) Framework(id string) *Framework { return c.frameworks[id] }

// Frameworks returns every framework, built-in first, then custom in the order added.
func (c *Catalog) Frameworks() []*Framework {
	out := make([]*Framework, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.frameworks[id])
	}
	return out
}

// FrameworkIDs returns the known framework ids, for error messages.
func (c *Catalog) FrameworkIDs() []string { return append([]string(nil), c.order...) }

// ISOToGSPP returns the BSI's mappings of an Annex A control to Grundschutz++.
func (c *Catalog) ISOToGSPP(iso string) []GSPPMapping { return c.isoToGSPP[iso] }

// DeriveGSPP returns the Grundschutz++ controls the BSI maps the given Annex A controls to,
// sorted and without duplicates.
func (c *Catalog) DeriveGSPP(iso []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range iso {
		for _, m := range c.isoToGSPP[id] {
			for _, t := range m.Targets {
				if !seen[t] {
					seen[t] = true
					out = append(out, t)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// deriveGSPPRationale gives each derived Grundschutz++ control the rationales of the ISO
// controls it is derived from, each prefixed with the ISO control id.
func (c *Catalog) deriveGSPPRationale(iso []string, why map[string]string) map[string]string {
	out := map[string]string{}
	for _, id := range iso {
		if why[id] == "" {
			continue
		}
		for _, m := range c.isoToGSPP[id] {
			for _, t := range m.Targets {
				line := id + ": " + why[id]
				if out[t] == "" {
					out[t] = line
				} else if !strings.Contains(out[t], line) {
					out[t] += "; " + line
				}
			}
		}
	}
	return out
}

// Clone returns a copy that can take custom frameworks without changing c.
func (c *Catalog) Clone() *Catalog {
	n := &Catalog{frameworks: map[string]*Framework{}, isoToGSPP: c.isoToGSPP}
	for _, id := range c.order {
		n.frameworks[id] = c.frameworks[id]
		n.order = append(n.order, id)
	}
	return n
}

func (c *Catalog) addFramework(f *Framework) error {
	if _, dup := c.frameworks[f.ID]; dup {
		return fmt.Errorf("framework %q is already defined", f.ID)
	}
	c.frameworks[f.ID] = f
	c.order = append(c.order, f.ID)
	return nil
}

var (
	builtinOnce sync.Once
	builtin     *Catalog
	builtinErr  error
)

// Builtin returns the embedded catalogues. The result is shared: Clone it before adding
// custom frameworks.
func Builtin() (*Catalog, error) {
	builtinOnce.Do(func() { builtin, builtinErr = loadBuiltin() })
	return builtin, builtinErr
}

// MustBuiltin is Builtin for callers that cannot continue without it (the data is embedded
// and tested, so an error is a build defect).
func MustBuiltin() *Catalog {
	c, err := Builtin()
	if err != nil {
		panic(err)
	}
	return c
}

// Provenance returns the PROVENANCE.md text shipped with the catalogues.
func Provenance() []byte {
	b, _ := catalogFS.ReadFile(catalogsDir + "/PROVENANCE.md")
	return b
}

func loadBuiltin() (*Catalog, error) {
	c := &Catalog{frameworks: map[string]*Framework{}, isoToGSPP: map[string][]GSPPMapping{}}

	iso := &Framework{ID: ISO27001, Title: "ISO/IEC 27001:2022 Annex A", Attribution: isoAttrib}
	themes := map[string]string{}
	if err := readTSV("iso27001-2022-annexA.tsv", []string{"id", "title", "theme"}, func(r []string) error {
		themes[r[0]] = r[2]
		return nil
	}); err != nil {
		return nil, err
	}
	if err := readTSV("iso27001-2022-annexA-de.tsv", []string{"id", "title_en", "title_de"}, func(r []string) error {
		theme, ok := themes[r[0]]
		if !ok {
			return fmt.Errorf("control %s has no theme in iso27001-2022-annexA.tsv", r[0])
		}
		return iso.add(&Control{ID: r[0], Title: r[1], TitleDE: r[2], Kind: "control", Group: theme})
	}); err != nil {
		return nil, err
	}

	gspp := &Framework{ID: BSIGSPP, Title: "BSI Grundschutz++ (Kernel + Methodik)", Attribution: bsiAttrib}
	if err := readTSV("bsi-grundschutzpp.tsv", []string{"id", "title", "type", "catalog", "sec_level", "effort_level"}, func(r []string) error {
		return gspp.add(&Control{ID: r[0], Title: r[1], TitleDE: r[1], Kind: r[2], Group: r[3], Level: r[4], Effort: r[5], Parent: parentID(r[0])})
	}); err != nil {
		return nil, err
	}

	komp := &Framework{ID: BSIKompend, Title: "BSI IT-Grundschutz-Kompendium Edition 2023", Attribution: kompAttrib}
	if err := readTSV("bsi-kompendium-2023.tsv", []string{"id", "title", "type", "layer", "level"}, func(r []string) error {
		parent := ""
		if i := strings.LastIndex(r[0], ".A"); i > 0 && r[2] == "requirement" {
			parent = r[0][:i]
		}
		return komp.add(&Control{ID: r[0], Title: r[1], TitleDE: r[1], Kind: r[2], Group: r[3], Level: r[4], Parent: parent})
	}); err != nil {
		return nil, err
	}

	if err := readTSV("iso27001-2022-to-grundschutzpp.tsv", []string{"iso_control", "relationship", "target_catalog", "target_controls"}, func(r []string) error {
		if iso.Control(r[0]) == nil {
			return fmt.Errorf("mapping names unknown Annex A control %s", r[0])
		}
		m := GSPPMapping{ISO: r[0], Relationship: r[1]}
		for _, t := range strings.Split(r[3], ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			if gspp.Control(t) == nil {
				// The BSI mapping was made against a newer Grundschutz++ draft than the
				// catalogue snapshot: keep the id for reports, never derive from it.
				m.Unresolved = append(m.Unresolved, t)
				continue
			}
			m.Targets = append(m.Targets, t)
		}
		c.isoToGSPP[r[0]] = append(c.isoToGSPP[r[0]], m)
		return nil
	}); err != nil {
		return nil, err
	}
	for _, f := range []*Framework{iso, gspp, komp} {
		if err := c.addFramework(f); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parentID returns the Grundschutz++ parent of an id: "GC.1.1" → "GC.1", "GC" → "".
func parentID(id string) string {
	if i := strings.LastIndexByte(id, '.'); i > 0 {
		return id[:i]
	}
	return ""
}

// readTSV reads an embedded catalogue file, checks its header and calls fn per row.
func readTSV(name string, header []string, fn func([]string) error) error {
	data, err := catalogFS.ReadFile(catalogsDir + "/" + name)
	if err != nil {
		return fmt.Errorf("could not read catalogue %s: %w", name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" {
			continue
		}
		row := strings.Split(text, "\t")
		if line == 1 {
			if strings.Join(row, "\t") != strings.Join(header, "\t") {
				return fmt.Errorf("catalogue %s: header %q, want %q", name, row, header)
			}
			continue
		}
		if len(row) != len(header) {
			return fmt.Errorf("catalogue %s:%d: %d columns, want %d", name, line, len(row), len(header))
		}
		if err := fn(row); err != nil {
			return fmt.Errorf("catalogue %s:%d: %w", name, line, err)
		}
	}
	return sc.Err()
}
