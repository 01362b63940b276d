package bundler

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/bundle"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// unzipAll reads every file of a bundle into memory, by path relative to its top folder.
func unzipAll(t testing.TB, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		_, rel, _ := strings.Cut(f.Name, "/")
		out[rel] = b
	}
	return out
}

func verify(t testing.TB, w *world, path string) *bundle.Report {
	t.Helper()
	rep, err := bundle.VerifyFile(context.Background(), path, bundle.VerifyOptions{Key: w.signer.Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		for _, p := range rep.Problems {
			t.Errorf("problem: %s", p)
		}
		t.FailNow()
	}
	return rep
}

// oscalSchema compiles the vendored OSCAL assessment-results schema.
func oscalSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/oscal_assessment-results_schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("oscal_assessment-results_schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("oscal_assessment-results_schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBuildBundle(t *testing.T) {
	w := newWorld(t, nil)
	policy := []byte("%PDF-1.7 access control policy, approved")
	w.manual(day(-1), day(-30), "Access Control Policy.pdf", policy, "A.5.15")
	w.nightly(0) // before the period: the anchor
	for d := 1; d <= 5; d++ {
		w.nightly(d)
	}
	w.manual(day(5).Add(3*time.Hour), day(5), "training-records.pdf", []byte("%PDF-1.7 training"), "A.6.3")
	w.nightly(6) // after the period

	path, err := w.build(1, 5, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, w, path)
	m := rep.Manifest
	// anchor (day 0), days 1–5 and the manual run of day 5; the manual run of day 0 as an
	// attestation run (its policy is valid in the period).
	roles := map[string]int{}
	for _, r := range m.Runs {
		roles[r.Role]++
	}
	if roles[bundle.RoleAnchor] != 1 || roles[bundle.RolePeriod] != 6 || roles[bundle.RoleAttestation] != 1 {
		t.Errorf("roles = %v", roles)
	}
	if m.LastRun.ID != m.Runs[6].ID {
		t.Errorf("last run %s, want %s", m.LastRun.ID, m.Runs[6].ID)
	}
	// 5 nights × 4 artefacts + 1 manual
	if rep.Artefacts != 21 || m.Counts.Gaps != 5 {
		t.Errorf("artefacts = %d, gaps = %d", rep.Artefacts, m.Counts.Gaps)
	}
	files := unzipAll(t, path)

	t.Run("manifest.json", func(t *testing.T) {
		var doc struct {
			Artefacts []bundle.Artefact `json:"artefacts"`
		}
		if err := json.Unmarshal(files[bundle.ManifestFile], &doc); err != nil {
			t.Fatal(err)
		}
		var failing, manual int
		for _, a := range doc.Artefacts {
			for _, r := range a.Results {
				if r.Outcome == "fail" {
					failing++
					if r.Detail == "" {
						t.Errorf("failed result %s without the values that decided it", r.Rule)
					}
				}
			}
			if len(a.Files) > 0 {
				manual++
				if a.Files[0].Name != "training-records.pdf" || !strings.HasSuffix(a.Files[0].Path, ".pdf") {
					t.Errorf("manual file = %+v", a.Files[0])
				}
				if len(a.Controls) != 1 || a.Controls[0] != "A.6.3" {
					t.Errorf("manual evidence controls = %v", a.Controls)
				}
			}
			if a.Kind == "aws.iam.password_policy" && (len(a.Controls) != 2 || a.Controls[0] != "A.5.17") {
				t.Errorf("password policy controls = %v", a.Controls)
			}
		}
		// day 3 policy, days 4 and 5 users
		if failing != 3 || manual != 1 {
			t.Errorf("failing results = %d, manual = %d", failing, manual)
		}
	})

	t.Run("OSCAL assessment results validate", func(t *testing.T) {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(files["report/"+OSCALFile]))
		if err != nil {
			t.Fatal(err)
		}
		if err := oscalSchema(t).Validate(inst); err != nil {
			t.Fatalf("assessment-results.json is not valid OSCAL 1.1.3: %v", err)
		}
		var ar struct {
			AR struct {
				Results []struct {
					Observations []struct {
						Collected, Expires string
						Evidence           []struct{ Href string } `json:"relevant-evidence"`
					}
					Findings []struct {
						Description string
						Target      struct {
							TargetID string `json:"target-id"`
							Status   struct{ State, Reason string }
						}
						Related []struct {
							UUID string `json:"observation-uuid"`
						} `json:"related-observations"`
					}
				}
				BackMatter struct {
					Resources []struct {
						RLinks []struct {
							Href   string
							Hashes []struct{ Algorithm, Value string }
						}
					}
				} `json:"back-matter"`
			} `json:"assessment-results"`
		}
		if err := json.Unmarshal(files["report/"+OSCALFile], &ar); err != nil {
			t.Fatal(err)
		}
		res := ar.AR.Results[0]
		if len(res.Observations) == 0 || res.Observations[0].Expires == "" || res.Observations[0].Collected == "" {
			t.Fatalf("observations lack collected/expires: %+v", res.Observations)
		}
		states := map[string]string{}
		for _, f := range res.Findings {
			states[f.Target.TargetID] = f.Target.Status.State + "/" + f.Target.Status.Reason
			if f.Target.TargetID == "A.5.17" && (!strings.Contains(f.Description, "aws.iam.password_policy.min_length: The account's password policy sets how passwords are formed") ||
				!strings.Contains(f.Description, "Why: aws.iam.password_policy.min_length failed")) {
				t.Errorf("A.5.17 finding lacks the reason or the mapping's rationale: %s", f.Description)
			}
		}
		if states["A.5.17"] != "not-satisfied/fail" || states["A.8.32"] != "satisfied/pass" || states["A.6.3"] != "satisfied/pass" {
			t.Errorf("finding states: A.5.17 %s, A.8.32 %s, A.6.3 %s", states["A.5.17"], states["A.8.32"], states["A.6.3"])
		}
		for _, r := range ar.AR.BackMatter.Resources {
			for _, l := range r.RLinks {
				rel := strings.TrimPrefix(l.Href, "../")
				data, ok := files[rel]
				if !ok {
					t.Errorf("back-matter links %s, which is not in the bundle", l.Href)
					continue
				}
				if len(l.Hashes) != 1 || l.Hashes[0].Algorithm != "SHA-256" || l.Hashes[0].Value != sha256Hex(data) {
					t.Errorf("back-matter hash of %s is %+v", l.Href, l.Hashes)
				}
			}
		}
	})

	t.Run("index.html is self-contained", func(t *testing.T) {
		html := string(files["report/"+HTMLFile])
		for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "url("} {
			if strings.Contains(html, bad) {
				t.Errorf("index.html contains %q", bad)
			}
		}
		links := regexp.MustCompile(`href="([^"#][^"]*)"`).FindAllStringSubmatch(html, -1)
		if len(links) < 10 {
			t.Fatalf("only %d links", len(links))
		}
		for _, l := range links {
			if _, ok := files[strings.TrimPrefix(l[1], "../")]; !ok {
				t.Errorf("index.html links %s, which is not in the bundle", l[1])
			}
		}
		for _, want := range []string{"A.5.17", "failing", "Access Control Policy.pdf", "training-records.pdf", "document.MinimumPasswordLength",
			"why it shows the control: The account&#39;s password policy sets how passwords are formed", "Why: aws.iam.password_policy.min_length failed"} {
			if !strings.Contains(html, want) {
				t.Errorf("index.html lacks %q", want)
			}
		}
	})

	t.Run("controls.csv", func(t *testing.T) {
		recs, err := csv.NewReader(bytes.NewReader(files["report/"+CSVFile])).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 94 { // header + 93 controls of Annex A
			t.Errorf("%d rows", len(recs))
		}
		byID := map[string][]string{}
		for _, r := range recs[1:] {
			byID[r[1]] = r
		}
		if byID["A.5.17"][3] != "failing" || byID["A.5.15"][3] != "attested" || byID["A.8.32"][3] != "effective" {
			t.Errorf("statuses: A.5.17 %s, A.5.15 %s, A.8.32 %s", byID["A.5.17"][3], byID["A.5.15"][3], byID["A.8.32"][3])
		}
		if !strings.Contains(byID["A.5.15"][18], ".pdf") {
			t.Errorf("A.5.15 evidence files: %q", byID["A.5.15"][18])
		}
	})
}

func TestBuildBundleSelection(t *testing.T) {
	w := newWorld(t, nil)
	for d := 0; d <= 3; d++ {
		w.nightly(d)
	}
	cases := []struct {
		name      string
		opts      BundleOptions
		artefacts int
		kinds     []string
	}{
		{"connector", BundleOptions{Connectors: []string{"github-acme"}}, 3, []string{"github.repo.branch_protection"}},
		{"control", BundleOptions{Controls: []string{"A.5.17"}}, 3, []string{"aws.iam.password_policy"}},
		{"control and connector", BundleOptions{Controls: []string{"A.8.5"}, Connectors: []string{"aws-prod"}}, 6, []string{"aws.iam.password_policy", "aws.iam.users"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, err := w.build(1, 3, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			rep := verify(t, w, path)
			if rep.Artefacts != c.artefacts {
				t.Errorf("artefacts = %d, want %d", rep.Artefacts, c.artefacts)
			}
			var doc struct{ Artefacts []bundle.Artefact }
			json.Unmarshal(unzipAll(t, path)[bundle.ManifestFile], &doc)
			for _, a := range doc.Artefacts {
				if !contains(c.kinds, a.Kind) {
					t.Errorf("artefact of kind %s bundled", a.Kind)
				}
			}
		})
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestBuildBundleRefuses(t *testing.T) {
	cases := []struct {
		name  string
		setup func(w *world)
		d1    int
		d2    int
		opts  BundleOptions
		want  string
	}{
		{"empty period", func(w *world) { w.nightly(1) }, 10, 12, BundleOptions{}, "no sealed run"},
		{"unknown framework", func(w *world) { w.nightly(1) }, 1, 1, BundleOptions{}, "framework"},
		{"unknown control", func(w *world) { w.nightly(1) }, 1, 1, BundleOptions{Controls: []string{"A.99"}}, "unknown control"},
		{"run missing from the index", func(w *world) {
			w.nightly(1)
			s := w.nightly(2)
			w.ix.DeleteRun(context.Background(), s.Header.ID)
		}, 1, 2, BundleOptions{}, "not in the index"},
		{"run ref missing from the store", func(w *world) {
			w.nightly(1)
			s := w.nightly(2)
			w.nightly(3)
			w.repo.Runs.(*mem.Store).Remove(s.RefDigest)
		}, 1, 3, BundleOptions{}, "which the store does not have"},
		{"chain broken in the period", func(w *world) {
			w.nightly(1)
			s := w.nightly(2)
			w.nightly(3)
			w.repo.Runs.(*mem.Store).Remove(s.RefDigest)
			if _, err := index.Reindex(context.Background(), w.ix, w.repo); err != nil {
				t.Fatal(err)
			}
		}, 1, 3, BundleOptions{}, "chain is broken"},
		{"output exists", func(w *world) { w.nightly(1) }, 1, 1, BundleOptions{Output: os.DevNull}, "already exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, nil)
			c.setup(w)
			if c.name == "unknown framework" {
				_, err := BuildBundle(context.Background(), Sources{Repo: w.repo, Index: w.ix, Engine: w.eng, Signer: w.signer},
					BundleOptions{Framework: "nist-800-53", From: day(1), To: day(2), Output: t.TempDir() + "/x.zip"})
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err = %v, want %q", err, c.want)
				}
				return
			}
			out := c.opts.Output
			if out == "" {
				out = t.TempDir() + "/out.zip"
				c.opts.Output = out
			}
			_, err := w.build(c.d1, c.d2, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if out != os.DevNull {
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a failed bundle left %s behind", out)
				}
			}
		})
	}
}

func TestBuildBundleReevaluated(t *testing.T) {
	w := newWorld(t, nil)
	for d := 0; d <= 3; d++ {
		w.nightly(d)
	}
	w.nightly(5)
	// Re-evaluate day 2 after the period: its current results come from a later run.
	w.now = day(6)
	if _, err := w.eng.Reevaluate(context.Background(), w.repo, w.signer, w.ix, day(2).Format("20060102T150405Z")+"-test"); err != nil {
		t.Fatal(err)
	}
	path, err := w.build(1, 3, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, w, path)
	var roles []string
	for _, r := range rep.Manifest.Runs {
		roles = append(roles, r.Role)
	}
	if got := strings.Join(roles, ","); got != "anchor,period,period,period,evaluation" {
		t.Errorf("roles = %s", got)
	}
}

func sha256Hex(b []byte) string { return evidence.Sum(b).String() }
