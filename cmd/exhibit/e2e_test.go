package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store/s3/miniotest"
)

// TestEndToEnd runs what a newcomer runs: the demo (simulated AWS, GitHub and Entra ID
// collected through the real SDKs, evaluated, bundled, verified), the auditor's standard
// tools on the bundle, a second run that deduplicates and chains, and a tampered object
// that exhibit check finds.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	cfg := filepath.Join(dir, "exhibit.yaml")

	// First run.
	out, errOut, code := execExhibit(t, "demo", "--dir", dir)
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	first := demoRun(t, out)

	// The only gaps are the deliberate ones: the demo tenant has no Entra ID P2 licence.
	// Any other gap (a parse error, a redaction that broke a response) is a regression.
	runsOut, _, code := execExhibit(t, "runs", "show", "--config", cfg, "--format", "json", first.id)
	if code != 0 {
		t.Fatalf("runs show exit %d", code)
	}
	for _, status := range regexp.MustCompile(`"status":\s*"([a-z_]+)"`).FindAllStringSubmatch(runsOut, -1) {
		if status[1] != string(evidence.StatusNotLicensed) && status[1] != string(evidence.StatusOK) {
			t.Errorf("unexpected gap status %q in the demo run:\n%s", status[1], gapLines(runsOut))
			break
		}
	}

	// A realistic mix: most automated controls effective, some failing, a gap, and
	// controls that need manual evidence.
	counts := statusCounts(t, out)
	if counts["effective"] <= counts["failing"] || counts["failing"] == 0 || counts["no_evidence"] == 0 || counts["not_applicable"] != 1 {
		t.Errorf("control status mix %v: want effective > failing > 0, some no_evidence, one not_applicable", counts)
	}

	// The bundle: exhibit verify pinned to the fingerprint, then the standard tools.
	bundles, _ := filepath.Glob(filepath.Join(dir, "bundles", "*.zip"))
	if len(bundles) != 1 {
		t.Fatalf("bundles: %v", bundles)
	}
	fp := regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`).FindString(out)
	if fp == "" {
		t.Fatalf("no fingerprint in the demo output:\n%s", out)
	}
	if out, errOut, code := execExhibit(t, "verify", bundles[0], "--fingerprint", fp); code != 0 {
		t.Fatalf("verify exit %d\n%s%s", code, out, errOut)
	}
	unpacked := unzipBundle(t, bundles[0])
	runTool(t, unpacked, "sha256sum", "-c", "--strict", "--quiet", "SHA256SUMS")
	runTool(t, unpacked, "openssl", "dgst", "-sha256", "-verify", "signing.pub", "-signature", "SHA256SUMS.sig", "SHA256SUMS")
	runTool(t, unpacked, "sh", "-c", "ssh-keygen -Y verify -f allowed_signers -I exhibit -n exhibit-bundle -s SHA256SUMS.sshsig < SHA256SUMS")

	// Second run: chained onto the first, unchanged evidence stored once.
	out, errOut, code = execExhibit(t, "demo", "--dir", dir)
	if code != 0 {
		t.Fatalf("second demo exit %d\n%s%s", code, out, errOut)
	}
	second := demoRun(t, out)
	if second.previous == "" || !strings.HasPrefix(first.manifest, second.previous) {
		t.Errorf("second run's previous %q does not name the first manifest %s", second.previous, first.manifest)
	}
	if second.newObjects*10 > first.newObjects {
		t.Errorf("second run stored %d new objects (first: %d): unchanged evidence was not deduplicated", second.newObjects, first.newObjects)
	}
	if out, errOut, code := execExhibit(t, "check", "--config", cfg); code != 0 {
		t.Fatalf("check after two runs: exit %d\n%s%s", code, out, errOut)
	}

	// Delete the newest run whole, manifest and signed ref: the chain alone cannot show it,
	// the index can, and check says so. Then put it back.
	storeDir := filepath.Join(dir, "data", "store")
	manifestPath := filepath.Join(storeDir, "objects", "sha256", second.manifest[:2], second.manifest)
	refs, _ := filepath.Glob(filepath.Join(storeDir, "runs", "sha256", "*", "*"))
	var refPath string
	for _, r := range refs {
		if b, err := os.ReadFile(r); err == nil && strings.Contains(string(b), second.manifest) {
			refPath = r
		}
	}
	if refPath == "" {
		t.Fatalf("no ref names manifest %s", second.manifest)
	}
	aside := t.TempDir()
	for _, p := range []string{manifestPath, refPath} {
		if err := os.Rename(p, filepath.Join(aside, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code = execExhibit(t, "check", "--config", cfg)
	if code != 1 || !strings.Contains(out, "run-lost") || !strings.Contains(out, second.id) {
		t.Fatalf("check after deleting the newest run: exit %d, want 1 with run-lost %s\n%s%s", code, second.id, out, errOut)
	}
	for _, p := range []string{manifestPath, refPath} {
		if err := os.Rename(filepath.Join(aside, filepath.Base(p)), p); err != nil {
			t.Fatal(err)
		}
	}

	// Tamper with one stored document: exhibit check must name it.
	victim := firstDocument(t, dir)
	path := filepath.Join(dir, "data", "store", "objects", "sha256", victim[:2], victim)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = execExhibit(t, "check", "--config", cfg)
	if code != 1 || !strings.Contains(out+errOut, victim) {
		t.Fatalf("check after tampering: exit %d, want 1 naming %s\n%s%s", code, victim, out, errOut)
	}

	// The demo's config serves collect (and serve) as it is, with no environment variables
	// set: the simulators stopped with the demo, so the run is sealed as failed, all gaps.
	for _, k := range []string{"EXHIBIT_AWS_SIM_ACCESS_KEY_ID", "EXHIBIT_AWS_SIM_SECRET_ACCESS_KEY", "EXHIBIT_GITHUB_DEMO_TOKEN"} {
		if _, set := os.LookupEnv(k); set {
			t.Fatalf("%s is set in the test's environment; the demo config must not need it", k)
		}
	}
	out, errOut, code = execExhibit(t, "collect", "--config", cfg)
	if code != 1 || !regexp.MustCompile(`(?m)^run \S+: failed — `).MatchString(out) {
		t.Fatalf("collect on the demo config after the demo: exit %d, want 1 with a sealed failed run\n%s%s", code, out, errOut)
	}
}

type demoRunInfo struct {
	id, manifest, previous string
	newObjects             int
}

// demoRun reads the run summary lines the demo prints.
func demoRun(t *testing.T, out string) demoRunInfo {
	t.Helper()
	var r demoRunInfo
	if m := regexp.MustCompile(`(?m)^run (\S+): `).FindStringSubmatch(out); m != nil {
		r.id = m[1]
	}
	if m := regexp.MustCompile(`(?m)^manifest ([0-9a-f]{64})(?: \(previous ([0-9a-f]+)\))?`).FindStringSubmatch(out); m != nil {
		r.manifest, r.previous = m[1], m[2]
	}
	if m := regexp.MustCompile(`(?m)^stored .* in (\d+) new objects`).FindStringSubmatch(out); m != nil {
		r.newObjects, _ = strconv.Atoi(m[1])
	}
	if r.id == "" || r.manifest == "" || r.newObjects == 0 {
		t.Fatalf("no run summary in the demo output:\n%s", out)
	}
	return r
}

func statusCounts(t *testing.T, out string) map[string]int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+93 controls: (.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no control counts in the demo output:\n%s", out)
	}
	counts := map[string]int{}
	for _, part := range strings.Split(m[1], ", ") {
		var n int
		var s string
		if _, err := fmt.Sscan(part, &n, &s); err == nil {
			counts[s] = n
		}
	}
	return counts
}

func gapLines(runsJSON string) string {
	var b strings.Builder
	for _, line := range strings.Split(runsJSON, "\n") {
		if strings.Contains(line, `"error"`) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// firstDocument returns the digest of the first evidence document of the newest run.
func firstDocument(t *testing.T, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "exhibit.yaml")
	out, _, code := execExhibit(t, "runs", "list", "--config", cfg, "--format", "json")
	if code != 0 {
		t.Fatalf("runs list exit %d", code)
	}
	var runs []struct {
		Manifest string `json:"manifest"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) == 0 {
		t.Fatalf("runs list --format json: %v\n%s", err, out)
	}
	mpath := filepath.Join(dir, "data", "store", "objects", "sha256", runs[0].Manifest[:2], runs[0].Manifest)
	f, err := os.Open(mpath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc string
	_, err = manifest.Decode(f, func(e evidence.Envelope) error {
		if doc == "" && e.Document != nil {
			doc = e.Document.Digest.String()
		}
		return nil
	})
	if err != nil || doc == "" {
		t.Fatalf("no document in the newest manifest: %v", err)
	}
	return doc
}

// unzipBundle unpacks a bundle (built by us, so trusted enough for a test) and returns its
// top folder.
func unzipBundle(t *testing.T, path string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	dest := t.TempDir()
	var top string
	for _, f := range zr.File {
		target := filepath.Join(dest, filepath.FromSlash(f.Name))
		if top == "" {
			top = filepath.Join(dest, strings.SplitN(f.Name, "/", 2)[0])
		}
		if strings.HasSuffix(f.Name, "/") {
			os.MkdirAll(target, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(target), 0o755)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.Create(target)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		w.Close()
	}
	return top
}

// runTool runs a standard tool in dir; it skips when the tool is missing, unless
// EXHIBIT_REQUIRE_TOOLS is set (as make test sets it).
func runTool(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	tool := name
	if name == "sh" {
		tool = strings.Fields(args[1])[0]
	}
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("EXHIBIT_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is required (EXHIBIT_REQUIRE_TOOLS is set) but not installed", tool)
		}
		t.Logf("skipping the %s check: %s is not installed", tool, tool)
		return
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestDemoWithObjectLockStore runs the demo with --config naming a MinIO bucket with
// Object Lock: the demo copies that store section into its own config, the evidence lands
// in the bucket under retention, and check and verify pass.
func TestDemoWithObjectLockStore(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t, true)
	t.Setenv("EXHIBIT_TEST_S3_ACCESS_KEY", srv.AccessKey)
	t.Setenv("EXHIBIT_TEST_S3_SECRET_KEY", srv.SecretKey)
	src := filepath.Join(t.TempDir(), "store.yaml")
	os.WriteFile(src, []byte(`store:
  type: s3
  s3:
    endpoint: `+srv.Endpoint+`
    bucket: `+bucket+`
    path_style: true
    access_key_env: EXHIBIT_TEST_S3_ACCESS_KEY
    secret_key_env: EXHIBIT_TEST_S3_SECRET_KEY
    object_lock: {mode: GOVERNANCE, retain_days: 1}
`), 0o644)
	dir := filepath.Join(t.TempDir(), "demo")
	out, errOut, code := execExhibit(t, "demo", "--dir", dir, "--config", src)
	if code != 0 {
		t.Fatalf("demo exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "s3 bucket "+bucket) {
		t.Errorf("the demo does not say the evidence went to the bucket:\n%s", out)
	}
	cfg := filepath.Join(dir, "exhibit.yaml")
	written, _ := os.ReadFile(cfg)
	if !strings.Contains(string(written), "bucket: "+bucket) || strings.Contains(string(written), srv.SecretKey) {
		t.Errorf("demo config lacks the store section or holds the secret:\n%s", written)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "store")); err == nil {
		t.Errorf("evidence was written to the local fs store too")
	}
	// Every object in the bucket is under retention.
	mc := srv.Client(t)
	n := 0
	for obj := range mc.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true, WithMetadata: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n++
		if n <= 3 {
			mode, until, err := mc.GetObjectRetention(context.Background(), bucket, obj.Key, "")
			if err != nil || mode == nil || until == nil {
				t.Errorf("%s: no retention (%v)", obj.Key, err)
			}
		}
	}
	if n < 100 {
		t.Errorf("%d objects in the bucket, want the demo's evidence", n)
	}
	if out, errOut, code := execExhibit(t, "check", "--config", cfg); code != 0 {
		t.Fatalf("check exit %d\n%s%s", code, out, errOut)
	}

	// The commands that read and write the store on their own work on the bucket too:
	// re-evaluation and manual evidence seal runs into it, and a bundle streams from it.
	today := time.Now().UTC().Format("2006-01-02")
	if out, errOut, code := execExhibit(t, "controls", "evaluate", "--config", cfg, "--from", today); code != 0 {
		t.Fatalf("controls evaluate exit %d\n%s%s", code, out, errOut)
	}
	policy := filepath.Join(t.TempDir(), "policy.txt")
	os.WriteFile(policy, []byte("information security policy, approved\n"), 0o644)
	if out, errOut, code := execExhibit(t, "evidence", "add", "--config", cfg, "--file", policy, "--kind", "policy",
		"--control", "A.5.1", "--effective-date", today); code != 0 {
		t.Fatalf("evidence add exit %d\n%s%s", code, out, errOut)
	}
	zip := filepath.Join(t.TempDir(), "audit.zip")
	if out, errOut, code := execExhibit(t, "bundle", "--config", cfg, "--framework", "iso27001-2022",
		"--from", today, "--to", today, "-o", zip); code != 0 {
		t.Fatalf("bundle exit %d\n%s%s", code, out, errOut)
	}
	fp := regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`).FindString(out)
	if out, errOut, code := execExhibit(t, "verify", zip, "--fingerprint", fp); code != 0 {
		t.Fatalf("verify exit %d\n%s%s", code, out, errOut)
	}
	unpacked := unzipBundle(t, zip)
	if m, _ := filepath.Glob(filepath.Join(unpacked, "runs", "*.json")); len(m) < 3 {
		t.Errorf("bundle from the bucket holds %d runs, want the collection, the evaluation and the attestation", len(m))
	}
	if out, errOut, code := execExhibit(t, "check", "--config", cfg); code != 0 {
		t.Fatalf("check after evaluate, evidence add and bundle: exit %d\n%s%s", code, out, errOut)
	}
}
