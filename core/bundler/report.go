// Package bundler builds auditor bundles (BuildBundle): it finds the period's segment of the
// run chain, gathers its evidence from the store, the index and the controls engine, and
// renders the period's control status (controls.BuildReport) and the bundled evidence as the
// three report files of a bundle — report/controls.csv, report/index.html (self-contained,
// readable offline) and report/assessment-results.json (OSCAL 1.1.3 assessment results).
// evidence/bundle writes and verifies the zip itself.
//
// Memory stays flat in the number of artefacts: per-artefact data (OSCAL observations and
// back-matter resources) is spooled to temporary files as artefacts stream by, and per
// control only the evidence rows shown (failures first, capped) are kept; everything else
// is counted. The complete per-artefact results are in the bundle's manifest.json.
package bundler

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/bundle"
)

// File names of the report, under report/.
const (
	CSVFile   = "controls.csv"
	HTMLFile  = "index.html"
	OSCALFile = "assessment-results.json"
)

// Meta is what the report says about the bundle it belongs to.
type Meta struct {
	BundleID  string
	CreatedAt time.Time
	Signer    string
	Version   string
	Selection bundle.Selection
	// Runs are the bundled runs (with their paths), chain order.
	Runs []bundle.Run
	// Freshness is how long evidence counts as current: an observation expires then.
	Freshness time.Duration
}

// Limits of what the report shows per control; the rest is counted and left to manifest.json.
const (
	// MaxFailingRows is how many failing (or error / no evidence) results a control lists.
	MaxFailingRows = 200
	// MaxOtherRows is how many passing or not-applicable results a control lists.
	MaxOtherRows = 25
)

// row is one result of a rule mapped to a control, on one artefact.
type row struct {
	Outcome     string
	Rule        string
	Kind        string
	Subject     string
	Connector   string
	CollectedAt time.Time
	Run         string
	Seq         int
	Document    *bundle.File
	Detail      string
	Observation string // OSCAL observation uuid
}

// controlRows collects what a control's section shows.
type controlRows struct {
	failing, other []row
	counts         map[string]int
	artefacts      int
}

// Renderer accumulates the bundle's artefacts and renders the report files. Add every
// artefact (in manifest.json order), then Render. Close removes its spools.
type Renderer struct {
	rep  *controls.PeriodReport
	meta Meta
	dir  string

	rows     map[string]*controlRows
	maps     map[string]map[string]bool // control → rules mapped to it
	obs      *os.File                   // OSCAL observations, one JSON object per line
	obsW     *bufio.Writer
	res      *os.File // OSCAL back-matter resources, one per bundled file referenced
	resW     *bufio.Writer
	resSeen  map[evidence.Digest]bool
	nObs     int
	attached map[evidence.Digest]string // attestation files bundled: digest → path
}

// NewRenderer starts a report of rep for the bundle described by meta; tempDir holds its
// spools ("" = the system's temporary directory).
func NewRenderer(rep *controls.PeriodReport, meta Meta, tempDir string) (*Renderer, error) {
	r := &Renderer{rep: rep, meta: meta, dir: tempDir, rows: map[string]*controlRows{},
		resSeen: map[evidence.Digest]bool{}, attached: map[evidence.Digest]string{}}
	var err error
	if r.obs, err = os.CreateTemp(tempDir, "exhibit-report-obs-*"); err != nil {
		return nil, fmt.Errorf("could not create the report spool: %w", err)
	}
	if r.res, err = os.CreateTemp(tempDir, "exhibit-report-res-*"); err != nil {
		r.Close()
		return nil, fmt.Errorf("could not create the report spool: %w", err)
	}
	r.obsW, r.resW = bufio.NewWriterSize(r.obs, 64<<10), bufio.NewWriterSize(r.res, 64<<10)
	r.maps = map[string]map[string]bool{}
	for _, c := range rep.Controls {
		r.rows[c.ID] = &controlRows{counts: map[string]int{}}
		r.maps[c.ID] = map[string]bool{}
		for _, rs := range c.Rules {
			r.maps[c.ID][rs.Rule] = true
		}
	}
	return r, nil
}

// Close removes the spools.
func (r *Renderer) Close() {
	for _, f := range []*os.File{r.obs, r.res} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	r.obs, r.res = nil, nil
}

// SetMeta replaces the bundle metadata (the runs are known only once they are added).
func (r *Renderer) SetMeta(m Meta) { r.meta = m }

// Attach records an attestation file bundled at path, so the report links to it.
func (r *Renderer) Attach(d evidence.Digest, path string) { r.attached[d] = path }

// Add records one bundled artefact: its rows for the controls it bears on and, if it has
// results or files, an OSCAL observation.
func (r *Renderer) Add(a *bundle.Artefact) error {
	if len(a.Controls) == 0 && len(a.Files) == 0 {
		return nil
	}
	obsID := uuidFrom("observation", r.meta.BundleID, a.Run, fmt.Sprint(a.Seq))
	for _, c := range a.Controls {
		cr := r.rows[c]
		if cr == nil {
			continue
		}
		cr.artefacts++
		for _, res := range a.Results {
			if !r.ruleMaps(c, res.Rule) {
				continue
			}
			cr.counts[res.Outcome]++
			rw := row{Outcome: res.Outcome, Rule: res.Rule, Kind: a.Kind, Subject: a.Subject, Connector: a.Connector,
				CollectedAt: a.CollectedAt, Run: a.Run, Seq: a.Seq, Document: a.Document, Detail: res.Detail, Observation: obsID}
			if res.Outcome == string(controls.Pass) || res.Outcome == string(controls.NotApplicable) {
				if len(cr.other) < MaxOtherRows {
					cr.other = append(cr.other, rw)
				}
			} else if len(cr.failing) < MaxFailingRows {
				cr.failing = append(cr.failing, rw)
			}
		}
	}
	return r.addObservation(a, obsID)
}

// ruleMaps reports whether rule maps to control in the report.
func (r *Renderer) ruleMaps(control, rule string) bool { return r.maps[control][rule] }

// Render writes the three report files into dir and returns their paths by name.
func (r *Renderer) Render(dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{{CSVFile, r.writeCSV}, {HTMLFile, r.writeHTML}, {OSCALFile, r.writeOSCAL}} {
		p := filepath.Join(dir, f.name)
		file, err := os.Create(p)
		if err != nil {
			return nil, fmt.Errorf("could not render %s: %w", f.name, err)
		}
		err = f.write(file)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("could not render %s: %w", f.name, err)
		}
		out[f.name] = p
	}
	return out, nil
}

// uuidFrom derives a stable UUID (version 5 layout, SHA-256 based) from its parts, so the
// same bundle content always gets the same identifiers and findings can name observations
// without keeping them in memory.
func uuidFrom(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// statusOrder sorts controls in the report by urgency.
func statusOrder(s controls.Status) int {
	for i, x := range controls.Statuses {
		if x == s {
			return i
		}
	}
	return len(controls.Statuses)
}

// sortedControls returns the report's controls by status urgency, then catalogue order.
func (r *Renderer) sortedControls() []controls.ControlReport {
	out := append([]controls.ControlReport(nil), r.rep.Controls...)
	sort.SliceStable(out, func(i, j int) bool { return statusOrder(out[i].Status) < statusOrder(out[j].Status) })
	return out
}

// evidenceFiles returns the bundled files a control's section links to.
func (r *Renderer) evidenceFiles(c *controls.ControlReport) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if cr := r.rows[c.ID]; cr != nil {
		for _, rw := range append(append([]row(nil), cr.failing...), cr.other...) {
			if rw.Document != nil {
				add(rw.Document.Path)
			}
		}
	}
	for _, a := range c.Attestations {
		add(r.attached[a.File.Digest])
	}
	return out
}

func writeJSONLine(w *bufio.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}
