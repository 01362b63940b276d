package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// deployPrometheus is the folder of the shipped alert rules and their promtool unit tests.
const deployPrometheus = "../../deploy/prometheus"

// TestAlertRules checks the shipped alert rules with the real promtool: the rules parse, and
// each alert fires, and only fires, in the cases of alerts_test.yaml.
func TestAlertRules(t *testing.T) {
	promtool := lookTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = deployPrometheus
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDocumentedMetricsExist checks that every exhibit_* metric named in the docs and the
// alert rules is one the server exports (an alert on a metric that does not exist never
// fires), and that every PromQL expression the README gives is one of the tested alert rules.
func TestDocumentedMetricsExist(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	exported := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}
	// Vectors without a child are not gathered: name them from the descriptors.
	descs := make(chan *prometheus.Desc, 64)
	go func() { reg.Describe(descs); close(descs) }()
	nameRE := regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)
	for d := range descs {
		if m := nameRE.FindStringSubmatch(d.String()); m != nil {
			exported[m[1]] = true
		}
	}
	files := []string{"../../README.md", filepath.Join(deployPrometheus, "alerts.yaml")}
	more, _ := filepath.Glob("../../deploy/*/*.md")
	files = append(files, more...)
	metricRE := regexp.MustCompile(`\bexhibit_[a-z0-9_]+`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricRE.FindAllString(string(data), -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !exported[name] && !exported[base] {
				t.Errorf("%s names metric %s, which the server does not export (exported: %s)", f, name, strings.Join(sortedKeys(exported), ", "))
			}
		}
	}

	rules, err := os.ReadFile(filepath.Join(deployPrometheus, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tested := normaliseSpace(string(rules))
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	spanRE := regexp.MustCompile("`([^`\n]*exhibit_[^`\n]*)`")
	n := 0
	for _, m := range spanRE.FindAllStringSubmatch(string(readme), -1) {
		expr := m[1]
		if !strings.ContainsAny(expr, "()<>=") {
			continue // a metric name alone, checked above
		}
		n++
		if !strings.Contains(tested, normaliseSpace(expr)) {
			t.Errorf("README.md gives the PromQL expression %q, which is not an expression of deploy/prometheus/alerts.yaml (so promtool never tests it)", expr)
		}
	}
	if n == 0 {
		t.Error("README.md gives no PromQL expression; the check above would pass vacuously")
	}
}

func normaliseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lookTool finds a command the test needs; it fails when EXHIBIT_REQUIRE_TOOLS is set (as
// `make test` sets it, after scripts/tools.sh installed it) and skips otherwise.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("EXHIBIT_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is required (EXHIBIT_REQUIRE_TOOLS is set) but not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}
