package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/exhibit-dev/exhibit/config"
	awssim "github.com/exhibit-dev/exhibit/connectors/aws/sim"
	githubsim "github.com/exhibit-dev/exhibit/connectors/github/sim"
	msgraphsim "github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/bundler"
	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/evidence/bundle"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
)

// demoFramework is the framework the demo reports on.
const demoFramework = "iso27001-2022"

type demoOptions struct {
	dir  string
	size string
	// awsDefects are extra misconfigurations of the simulated AWS accounts, "N:defect".
	awsDefects []string
}

func newDemoCmd(g *globals) *cobra.Command {
	opts := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo [--dir D] [--size small|large] [--config FILE]",
		Short: "Run the whole pipeline against simulated AWS, GitHub and Entra ID",
		Long: `Run the whole pipeline against simulators of AWS, GitHub and Microsoft Entra ID / Intune,
started on 127.0.0.1: no cloud credentials needed. The real connectors (with the real SDK
clients) collect from the simulators into D (default ./exhibit-demo), the rules judge the
evidence, the ISO/IEC 27001:2022 control status is printed, and a signed evidence bundle is
built in D/bundles and verified.

The demo leaves its config in D/exhibit.yaml, so every other command works on the demo's
store: exhibit check --config D/exhibit.yaml, exhibit runs list --config ..., exhibit controls
status --config .... Run the demo again with the same --dir to add a second run to the same
store: it chains onto the first and stores unchanged evidence only once.

With --config FILE, the demo keeps its evidence where that file's store section says (for
example a MinIO bucket with Object Lock) and copies that section into D/exhibit.yaml.

Exit codes: 0 the demo ran and the bundle verified; 1 something failed (the message says what).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), g, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.dir, "dir", "exhibit-demo", "directory for the demo's config, evidence and bundles")
	cmd.Flags().StringVar(&opts.size, "size", "small", "size of the simulated organisation: small (seconds) or large (20 AWS accounts, 300 repositories, 2,000 users)")
	cmd.Flags().StringArrayVar(&opts.awsDefects, "aws-defect", nil, "misconfigure simulated AWS account N as well, e.g. 0:no_password_policy (repeatable; to see a change in exhibit diff)")
	return cmd
}

// demoSims are the simulators of one demo run.
type demoSims struct {
	servers map[string]*simkit.Server // by connector instance name
	env     map[string]string         // the variables the generated settings refer to
}

func (s *demoSims) Close() {
	for _, srv := range s.servers {
		srv.Close()
	}
}

// demoInstances are the demo's connector instances in the order they appear in the config.
var demoInstances = []struct{ name, typ, title string }{
	{"aws-demo", "aws", "AWS organisation"},
	{"github-demo", "github", "GitHub organisation"},
	{"entra-demo", "msgraph", "Entra ID / Intune tenant"},
}

func runDemo(ctx context.Context, g *globals, opts demoOptions, out, errw io.Writer) error {
	start := time.Now()
	if opts.size != "small" && opts.size != "large" {
		return fmt.Errorf("--size %q: want small or large", opts.size)
	}
	dir, err := filepath.Abs(opts.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "bundles"), 0o755); err != nil {
		return fmt.Errorf("could not create the demo directory: %w", err)
	}
	cfgPath := filepath.Join(dir, "exhibit.yaml")
	step := func(format string, args ...any) {
		fmt.Fprintf(out, "==> "+format+"\n", args...)
	}

	// The store section: the embedded default (data in D/data), or the --config file's.
	storeYAML, storeDesc, err := demoStoreSection(g.configFile)
	if err != nil {
		return err
	}

	step("Starting simulators of AWS, GitHub and Entra ID on 127.0.0.1 (%s organisation)", opts.size)
	extra, err := parseDemoDefects(opts.awsDefects)
	if err != nil {
		return err
	}
	sims, err := startDemoSims(opts.size, previousDemoPorts(cfgPath), extra)
	if err != nil {
		return err
	}
	defer sims.Close()
	for _, in := range demoInstances {
		fmt.Fprintf(out, "    %-12s %-26s %s\n", in.name, in.title, sims.servers[in.name].URL)
	}

	if err := writeDemoConfig(cfgPath, storeYAML, sims); err != nil {
		return err
	}
	step("Wrote %s (evidence in %s)", relToCwd(cfgPath), storeDesc)

	dg := &globals{configFile: cfgPath}
	e, err := openCmdEnv(ctx, dg, errw, envNeed{repo: true, signer: true, connectors: true})
	if err != nil {
		return err
	}
	defer e.Close()
	insts, err := e.instances(nil, false)
	if err != nil {
		return err
	}
	if err := e.checkSettings(insts); err != nil {
		return err
	}
	r := e.newRunner("exhibit demo", 30*time.Second)
	eng, err := e.evaluator(r)
	if err != nil {
		return err
	}

	step("Collecting evidence with the real AWS, GitHub and Microsoft Graph SDK clients")
	var p *progressView
	if isTerminal(out) {
		p = newProgressView(out, insts)
		r.Progress = p.event
	} else {
		r.Progress = func(ev runner.Event) {
			if ev.Type == runner.EventFinished {
				fmt.Fprintf(out, "    %-12s %s, %s, %s — %s\n", ev.Instance, plural(ev.Artefacts, "artefact"), plural(ev.Exchanges, "exchange"), plural(ev.Gaps, "gap"), ev.Outcome)
			}
		}
	}
	r.Logger = quietLogger(r.Logger)
	sum, err := r.Run(ctx, insts)
	if p != nil {
		p.done()
	}
	if err != nil {
		return fmt.Errorf("collection failed: %w", err)
	}
	printSummary(out, sum)

	runs, err := e.ix.Runs(ctx, runsOfCollection())
	if err != nil {
		return err
	}
	from := startOfDay(sum.StartedAt)
	if n := len(runs); n > 0 && runs[n-1].StartedAt.Before(from) {
		from = startOfDay(runs[n-1].StartedAt)
	}
	to := time.Now().UTC()

	step("Control status for ISO/IEC 27001:2022 Annex A, %s to %s (%s in the chain)",
		from.Format(time.DateOnly), to.Format(time.DateOnly), plural(len(runs), "run"))
	rep, err := controls.BuildReport(ctx, e.ix, eng, demoFramework, from, to, controls.ReportFilter{SummaryOnly: true})
	if err != nil {
		return fmt.Errorf("could not build the control status: %w", err)
	}
	printDemoStatus(out, rep)

	step("Building the signed evidence bundle")
	bundlePath := filepath.Join(dir, "bundles", fmt.Sprintf("exhibit-%s-%s.zip", demoFramework, to.Format("20060102T150405Z")))
	fingerprint, err := demoBundle(ctx, e, eng, bundlePath, from, to, out)
	if err != nil {
		return err
	}

	step("Done in %s", time.Since(start).Round(100*time.Millisecond))
	printDemoNext(out, cfgPath, bundlePath, fingerprint)
	return nil
}

// demoStoreSection returns the YAML of the store section for the demo config and a
// description of where the evidence goes.
func demoStoreSection(configFile string) (string, string, error) {
	if configFile == "" {
		return "", "the local fs store in data/store", nil
	}
	src, err := config.Load(configFile)
	if err != nil {
		return "", "", fmt.Errorf("--config: %w", err)
	}
	st := src.Store
	// Paths in the copied section must keep pointing where they pointed.
	st.FS.Dir = src.Resolve(st.FS.Dir)
	st.S3.CAFile = src.Resolve(st.S3.CAFile)
	st.S3.AccessKeyFile = src.Resolve(st.S3.AccessKeyFile)
	st.S3.SecretKeyFile = src.Resolve(st.S3.SecretKeyFile)
	if st.Type == "fs" && st.FS.Dir == "" {
		return "", "the local fs store in data/store", nil
	}
	b, err := yaml.Marshal(map[string]any{"store": st})
	if err != nil {
		return "", "", err
	}
	desc := "the fs store in " + st.FS.Dir
	if st.Type == "s3" {
		desc = fmt.Sprintf("s3 bucket %s at %s", st.S3.Bucket, st.S3.Endpoint)
		if st.S3.ObjectLock != nil {
			desc += fmt.Sprintf(", Object Lock %s %d days", st.S3.ObjectLock.Mode, st.S3.ObjectLock.RetainDays)
		}
	}
	return string(b), desc, nil
}

// previousDemoPorts reads the simulator ports of an earlier demo config, so a second run
// serves the simulators at the same addresses (URLs inside recorded responses stay equal
// and unchanged evidence deduplicates).
func previousDemoPorts(cfgPath string) map[string]int {
	ports := map[string]int{}
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return ports
	}
	for _, line := range strings.Split(string(data), "\n") {
		// "# simulator <instance> http://127.0.0.1:<port>"
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "#" && f[1] == "simulator" {
			if u, err := url.Parse(f[3]); err == nil {
				if p, err := strconv.Atoi(u.Port()); err == nil {
					ports[f[2]] = p
				}
			}
		}
	}
	return ports
}

// parseDemoDefects parses --aws-defect values "N:defect" into defects per account index.
func parseDemoDefects(specs []string) (map[int][]string, error) {
	known := map[string]bool{}
	for _, d := range awssim.AllDefects {
		known[d] = true
	}
	out := map[int][]string{}
	for _, s := range specs {
		n, name, ok := strings.Cut(s, ":")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 0 {
			return nil, fmt.Errorf("--aws-defect %q: want ACCOUNT:DEFECT, e.g. 0:no_password_policy", s)
		}
		if !known[name] {
			return nil, fmt.Errorf("--aws-defect %q: unknown defect %q (known: %s)", s, name, strings.Join(awssim.AllDefects, ", "))
		}
		out[i] = append(out[i], name)
	}
	return out, nil
}

func startDemoSims(size string, ports map[string]int, extraAWS map[int][]string) (*demoSims, error) {
	day := startOfDay(time.Now())
	// The demo's AWS organisation has two deliberate failures (a backup bucket without KMS in
	// production, SSH open to the world in development); GitHub and Entra ID bring their own
	// demo defects and a missing Entra ID P2 licence (a gap).
	awsOpts := awssim.Options{Now: day, Defects: map[int][]string{1: {"bucket_unencrypted"}, 2: {"sg_ssh_open"}}}
	ghOpts := githubsim.Options{Epoch: day}
	graphOpts := msgraphsim.Options{Now: func() time.Time { return day }}
	for i, ds := range extraAWS {
		awsOpts.Defects[i] = append(awsOpts.Defects[i], ds...)
	}
	if size == "large" {
		awsOpts.Accounts = 20
		awsOpts.Regions = []string{"eu-central-1", "eu-west-1", "us-east-1", "us-west-2"}
		ghOpts.Repos = 300
		graphOpts.Users, graphOpts.Devices = 2000, 400
	}
	handlers := map[string]interface{ Handler() http.Handler }{
		"aws-demo":    awssim.New(awsOpts),
		"github-demo": githubsim.New(ghOpts),
		"entra-demo":  msgraphsim.New(graphOpts),
	}
	s := &demoSims{servers: map[string]*simkit.Server{}, env: map[string]string{}}
	for _, in := range demoInstances {
		srv, err := simkit.ServePreferring(handlers[in.name].Handler(), ports[in.name])
		if err != nil {
			s.Close()
			return nil, err
		}
		s.servers[in.name] = srv
	}
	for _, env := range []map[string]string{awssim.DemoEnv(), githubsim.DemoEnv()} {
		for k, v := range env {
			s.env[k] = v
		}
	}
	return s, nil
}

// writeDemoConfig writes the demo's config: data in D/data, the store section, and the
// three connectors pointed at the simulators.
func writeDemoConfig(path, storeYAML string, sims *demoSims) error {
	var b strings.Builder
	b.WriteString(`# Written by "exhibit demo". Every exhibit command takes it: --config ` + path + `
# The connectors point at simulators that run only while the demo runs. Their credentials
# in ` + demoSecretsDir + `/ are the simulators' static ones, not secrets, kept in files so that
# collect and serve run on this config as they would on yours.
`)
	for _, in := range demoInstances {
		fmt.Fprintf(&b, "# simulator %s %s\n", in.name, sims.servers[in.name].URL)
	}
	b.WriteString("data_dir: data\nlog: {format: text}\n")
	b.WriteString(storeYAML)
	b.WriteString(`controls:
  applicability:
    - framework: iso27001-2022
      control: A.7.4
      applicable: false
      justification: The demo company has no premises of its own; its servers run in AWS data centres.
connectors:
`)
	settings := map[string]string{
		"aws-demo":    awssim.DemoSettings(sims.servers["aws-demo"].URL),
		"github-demo": githubsim.DemoSettings(sims.servers["github-demo"].URL),
		"entra-demo":  msgraphsim.DemoSettings(sims.servers["entra-demo"].URL),
	}
	secrets, err := writeDemoSecrets(filepath.Dir(path), sims.env)
	if err != nil {
		return err
	}
	for name, yaml := range settings {
		settings[name] = secrets.Replace(yaml)
	}
	for _, in := range demoInstances {
		fmt.Fprintf(&b, "  - name: %s\n    type: %s\n    settings:\n", in.name, in.typ)
		for _, line := range strings.Split(strings.TrimRight(settings[in.name], "\n"), "\n") {
			b.WriteString("      " + line + "\n")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("could not write the demo config: %w", err)
	}
	return nil
}

// demoSecretsDir, next to the demo's config, holds the simulators' static credentials.
const demoSecretsDir = "secrets"

// writeDemoSecrets writes each of the simulators' credentials (environment variable →
// value) to a file of its own in dir/secrets and returns a replacer that turns the
// settings' "_env: VARIABLE" into "_file: secrets/variable".
func writeDemoSecrets(dir string, env map[string]string) (*strings.Replacer, error) {
	sd := filepath.Join(dir, demoSecretsDir)
	if err := os.MkdirAll(sd, 0o700); err != nil {
		return nil, fmt.Errorf("could not write the demo's credentials: %w", err)
	}
	var pairs []string
	for k, v := range env {
		name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, "EXHIBIT_"), "_", "-"))
		if err := os.WriteFile(filepath.Join(sd, name), []byte(v+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("could not write the demo's credentials: %w", err)
		}
		pairs = append(pairs, "_env: "+k+"\n", "_file: "+demoSecretsDir+"/"+name+"\n")
	}
	return strings.NewReplacer(pairs...), nil
}

// printDemoStatus prints the counts per status, then the controls that need attention.
func printDemoStatus(out io.Writer, rep *controls.PeriodReport) {
	var parts []string
	for _, s := range controls.Statuses {
		if n := rep.Counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	fmt.Fprintf(out, "    %d controls: %s\n\n", len(rep.Controls), strings.Join(parts, ", "))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    CONTROL\tSTATUS\tTITLE\tDETAIL")
	var noEvidence []string
	for _, c := range rep.Controls {
		switch c.Status {
		case controls.NoEvidenceStatus:
			noEvidence = append(noEvidence, c.ID)
			continue
		case controls.NotApplicableStatus:
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", c.ID, c.Status, clipText(c.Title, 40), clipText(c.Justification, 70))
			continue
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", c.ID, c.Status, clipText(c.Title, 40), clipText(c.Detail(), 70))
	}
	tw.Flush()
	if len(noEvidence) > 0 {
		fmt.Fprintf(out, "\n    No automated evidence (needs manual evidence: exhibit evidence add): %d controls, e.g. %s\n",
			len(noEvidence), strings.Join(noEvidence[:min(6, len(noEvidence))], ", "))
	}
}

func printDemoNext(out io.Writer, cfgPath, bundlePath, fingerprint string) {
	c := relToCwd(cfgPath)
	bp := relToCwd(bundlePath)
	fmt.Fprintf(out, `
Next (exhibit is this binary: go run ./cmd/exhibit, or make build and use bin/exhibit):
  exhibit controls status --config %[1]s            # all 93 controls; --format csv|json
  exhibit runs list --config %[1]s                  # the run chain; run the demo again to extend it
  exhibit check --config %[1]s                      # re-hash every object, verify every signature
  exhibit verify %[2]s --fingerprint %[3]s
  unzip %[2]s, then in its folder (see VERIFY.md):
      sha256sum -c --strict SHA256SUMS
      openssl dgst -sha256 -verify signing.pub -signature SHA256SUMS.sig SHA256SUMS
      ssh-keygen -Y verify -f allowed_signers -I exhibit -n exhibit-bundle -s SHA256SUMS.sshsig < SHA256SUMS
  open report/index.html in the unpacked bundle: the auditor's view, offline
  exhibit collect --config %[1]s                    # one more run: the simulators stopped with the demo, so it shows gaps
  exhibit serve --config %[1]s                      # the scheduler, with /metrics on 127.0.0.1:9464
`, c, bp, fingerprint)
}

// relToCwd shortens p relative to the working directory where that is shorter.
func relToCwd(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

func startOfDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func clipText(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// runsOfCollection selects the collection runs (not manual evidence or re-evaluations).
func runsOfCollection() index.RunFilter {
	return index.RunFilter{Type: manifest.TypeCollection}
}

// demoBundle builds the bundle of the demo period, which BuildBundle verifies against the
// signing key before it moves it into place, and verifies it once more as an auditor
// would: pinned to the fingerprint, straight from the zip. It returns the fingerprint.
func demoBundle(ctx context.Context, e *cmdEnv, eng *controls.Engine, path string, from, to time.Time, out io.Writer) (string, error) {
	sum, err := bundler.BuildBundle(ctx, bundler.Sources{Repo: e.repo, Index: e.ix, Engine: eng, Signer: e.signer},
		bundler.BundleOptions{Framework: demoFramework, From: from, To: to, Output: path, TempDir: eng.TempDir,
			Version: version, Compression: bundle.Deflate})
	if err != nil {
		return "", fmt.Errorf("could not build the bundle: %w", err)
	}
	printBundleSummary(out, sum)
	fp := e.signer.Fingerprint()
	rep, err := runVerify(ctx, path, verifyOptions{fingerprint: fp})
	if err != nil {
		return "", fmt.Errorf("could not verify the bundle: %w", err)
	}
	if !rep.OK() {
		printVerifyReport(out, out, path, rep)
		return "", errDemoBundle
	}
	fmt.Fprintf(out, "verified again as an auditor would, pinned to %s: valid\n", fp)
	return fp, nil
}

var errDemoBundle = errors.New("the demo bundle did not verify")
