package bundler

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence/bundle"
)

// htmlControl is one control's section of index.html.
type htmlControl struct {
	controls.ControlReport
	Anchor   string
	Failing  []row
	Other    []row
	Counts   map[string]int
	Listed   int
	Total    int
	Attached map[string]string // attestation file digest → bundle path
}

// writeHTML writes index.html: one self-contained page (inline CSS, no scripts, no external
// assets) that reads offline, straight from the unpacked bundle.
func (r *Renderer) writeHTML(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var cs []htmlControl
	attached := map[string]string{}
	for d, p := range r.attached {
		attached[d.String()] = p
	}
	for _, c := range r.sortedControls() {
		hc := htmlControl{ControlReport: c, Anchor: "c-" + token(c.ID), Counts: map[string]int{}, Attached: attached}
		if cr := r.rows[c.ID]; cr != nil {
			hc.Failing, hc.Other, hc.Counts = cr.failing, cr.other, cr.counts
			hc.Listed, hc.Total = len(cr.failing)+len(cr.other), sumCounts(cr.counts)
		}
		cs = append(cs, hc)
	}
	var counts []statusCount
	for _, s := range controls.Statuses {
		if n := r.rep.Counts[s]; n > 0 {
			counts = append(counts, statusCount{s, n})
		}
	}
	err := htmlTemplate.Execute(bw, struct {
		Rep      *controls.PeriodReport
		Meta     Meta
		Controls []htmlControl
		Counts   []statusCount
	}{r.rep, r.meta, cs, counts})
	if err != nil {
		return fmt.Errorf("could not render index.html: %w", err)
	}
	return bw.Flush()
}

type statusCount struct {
	Status controls.Status
	N      int
}

var htmlFuncs = template.FuncMap{
	"ts": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"date": func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	"up":   func(p string) string { return "../" + p },
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"label": func(s controls.Status) string { return strings.ReplaceAll(string(s), "_", " ") },
	"runPath": func(runs []bundle.Run, id string) string {
		for _, r := range runs {
			if r.ID == id {
				return "../" + r.Path
			}
		}
		return ""
	},
}

var htmlTemplate = template.Must(template.New("index.html").Funcs(htmlFuncs).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Rep.FrameworkTitle}} — evidence {{date .Rep.From}} to {{date .Rep.To}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#1d232a}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccd}h3{font-size:1.05em;margin:1.2em 0 .3em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #e3e6ea;vertical-align:top;overflow-wrap:break-word}
th{background:#f4f6f8;overflow-wrap:normal}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;overflow-wrap:anywhere}
.s{display:inline-block;padding:0 .5em;border-radius:.8em;font-size:.85em;white-space:nowrap}
.failing,.fail,.error{background:#fde2e1;color:#8a1c17}.gaps,.no_evidence,.stale{background:#fff1cc;color:#6b4e00}
.effective,.pass,.attested{background:#ddf4e4;color:#16602e}.not_applicable{background:#eceff3;color:#4b5563}
.meta td:first-child{width:12em;color:#4b5563}.note{color:#4b5563}section{margin-bottom:2em}
</style>
</head>
<body>
<h1>{{.Rep.FrameworkTitle}}</h1>
<p class="note">Control status over the audit period, from the evidence in this bundle. Every link opens a file of the bundle; <a href="../VERIFY.md">VERIFY.md</a> explains how to check that none was altered, added or left out.</p>
<table class="meta">
<tr><td>Period</td><td>{{ts .Rep.From}} to {{ts .Rep.To}}</td></tr>
<tr><td>Bundle</td><td><code>{{.Meta.BundleID}}</code>, created {{ts .Meta.CreatedAt}}{{if .Meta.Version}} by Exhibit {{.Meta.Version}}{{end}}</td></tr>
<tr><td>Signed by</td><td><code>{{.Meta.Signer}}</code> — compare with the fingerprint you received out of band</td></tr>
<tr><td>Runs</td><td>{{len .Rep.Runs}} evaluated runs; all {{len .Meta.Runs}} bundled run manifests are listed <a href="#runs">below</a></td></tr>
{{- with .Meta.Selection}}{{if or .Controls .Connectors}}
<tr><td>Selection</td><td>{{if .Controls}}controls {{range $i, $c := .Controls}}{{if $i}}, {{end}}{{$c}}{{end}}{{end}}{{if .Connectors}}; connectors {{range $i, $c := .Connectors}}{{if $i}}, {{end}}{{$c}}{{end}}{{end}}</td></tr>{{end}}{{end}}
<tr><td>Summary</td><td>{{range .Counts}}<span class="s {{.Status}}">{{.N}} {{label .Status}}</span> {{end}}</td></tr>
</table>

<h2>Controls</h2>
<table>
<tr><th>Control</th><th>Title</th><th>Status</th><th>Rules</th><th>Results</th></tr>
{{- range .Controls}}
<tr><td><a href="#{{.Anchor}}">{{.ID}}</a></td><td>{{.Title}}</td><td><span class="s {{.Status}}">{{label .Status}}</span>{{if .Fixed}} (fixed){{end}}</td><td>{{len .Rules}}</td><td>{{.Total}}</td></tr>
{{- end}}
</table>

{{range .Controls}}
<section id="{{.Anchor}}">
<h2>{{.ID}} {{.Title}} <span class="s {{.Status}}">{{label .Status}}</span></h2>
{{if .TitleDE}}<p class="note">{{.TitleDE}}</p>{{end}}
{{if and .Reason (ne (print .Status) "not_applicable")}}<p>Why: {{.Reason}}</p>{{end}}
{{if .FirstFailed}}<p>Failed first in the run of {{ts .FirstFailed}}, last in the run of {{ts .LastFailed}}.{{if .Fixed}} Fixed: every mapped rule passed in the newest run.{{end}}</p>{{end}}
{{if .NewestEvidence}}<p>Newest evidence: {{ts .NewestEvidence}}.</p>{{end}}
{{if .Justification}}<p>{{.Justification}}</p>{{end}}
{{if .Rules}}
<h3>Rules</h3>
<table>
<tr><th>Rule</th><th>Severity</th><th>Runs</th><th>Pass</th><th>Fail</th><th>Error</th><th>N/A</th><th>No evidence</th><th>Newest</th></tr>
{{- range .Rules}}
<tr><td><code>{{.Rule}}</code> v{{.Version}}<br>{{.Title}}{{if .Disabled}}<br><em>disabled: {{.Justification}}</em>{{end}}{{if .Derived}}<br><span class="note">derived mapping</span>{{end}}{{if .OutOfScope}}<br><em>out of scope: no connector of this type is configured</em>{{end}}{{if .Rationale}}<br><span class="note">why it shows the control: {{.Rationale}}</span>{{end}}</td><td>{{.Severity}}</td><td>{{.Runs}}</td><td>{{.Pass}}</td><td>{{.Fail}}</td><td>{{.Error}}</td><td>{{.NotApplicable}}</td><td>{{.NoEvidence}}</td><td>{{if .LastOutcome}}<span class="s {{.LastOutcome}}">{{.LastOutcome}}</span> {{ts .LastRunAt}}{{if .LastDetail}}<br><span class="mono">{{.LastDetail}}</span>{{end}}{{end}}</td></tr>
{{- end}}
</table>
{{end}}
{{if .Gaps}}
<h3>Runs without the evidence it needs</h3>
<table><tr><th>Run</th><th>Rule</th><th>Connector</th><th>Reason</th></tr>
{{- range .Gaps}}<tr><td>{{.RunID}}<br>{{ts .RunStartedAt}}</td><td><code>{{.Rule}}</code></td><td>{{.Connector}}</td><td>{{.Reason}}</td></tr>{{end}}
</table>
{{end}}
{{if .Attestations}}
<h3>Manual evidence</h3>
<table><tr><th>File</th><th>Effective</th><th>Expires</th><th>Note</th></tr>
{{- $att := .Attached}}
{{- range .Attestations}}<tr><td>{{with index $att .File.Digest.String}}<a href="{{up .}}">{{end}}{{.FileName}}{{with index $att .File.Digest.String}}</a>{{end}}{{if .ViaControl}} (via {{.ViaControl}}){{end}}</td><td>{{ts .EffectiveDate}}</td><td>{{ts .Expires}}</td><td>{{.Note}}</td></tr>{{end}}
</table>
{{end}}
{{if or .Failing .Other}}
<h3>Evidence</h3>
<table><tr><th>Result</th><th>Rule</th><th>Artefact</th><th>Collected</th><th>Document</th><th>Decided by</th></tr>
{{- range .Failing}}<tr><td><span class="s {{.Outcome}}">{{.Outcome}}</span></td><td><code>{{.Rule}}</code></td><td>{{.Kind}}<br>{{.Subject}}</td><td>{{ts .CollectedAt}}<br><span class="note">run {{with runPath $.Meta.Runs .Run}}<a href="{{.}}">{{end}}{{.Run}}{{if runPath $.Meta.Runs .Run}}</a>{{end}}</span></td><td>{{with .Document}}<a class="mono" href="{{up .Path}}">{{short .Digest.String}}</a>{{end}}</td><td class="mono">{{.Detail}}</td></tr>{{end}}
{{- range .Other}}<tr><td><span class="s {{.Outcome}}">{{.Outcome}}</span></td><td><code>{{.Rule}}</code></td><td>{{.Kind}}<br>{{.Subject}}</td><td>{{ts .CollectedAt}}<br><span class="note">run {{with runPath $.Meta.Runs .Run}}<a href="{{.}}">{{end}}{{.Run}}{{if runPath $.Meta.Runs .Run}}</a>{{end}}</span></td><td>{{with .Document}}<a class="mono" href="{{up .Path}}">{{short .Digest.String}}</a>{{end}}</td><td class="mono">{{.Detail}}</td></tr>{{end}}
</table>
{{if lt .Listed .Total}}<p class="note">{{.Listed}} of {{.Total}} results shown (failures first); <a href="../manifest.json">manifest.json</a> lists every artefact with its controls and results.</p>{{end}}
{{end}}
</section>
{{end}}

<h2 id="runs">Runs</h2>
<p class="note">Each run manifest is signed; each names the digest of the one before it, so a run removed between the first and the last would break the chain.</p>
<table><tr><th>Run</th><th>Role</th><th>Type</th><th>Started</th><th>Outcome</th><th>Manifest</th><th>Results</th></tr>
{{- range .Meta.Runs}}<tr><td>{{.ID}}</td><td>{{.Role}}</td><td>{{.Type}}</td><td>{{ts .StartedAt}}</td><td>{{.Outcome}}</td><td><a class="mono" href="{{up .Path}}">{{short .Manifest.String}}</a></td><td>{{if and .Results (ne .Role "anchor")}}<a class="mono" href="../results/{{.Results.String}}.jsonl">{{short .Results.String}}</a>{{end}}</td></tr>{{end}}
</table>
</body>
</html>
`))
