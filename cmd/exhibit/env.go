package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/all"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/core/lock"
	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	fsstore "github.com/exhibit-dev/exhibit/evidence/store/fs"
)

// connectorRegistry returns the connector types this binary knows: connectors/all. Tests
// replace it with test connectors.
var connectorRegistry = all.Registry

// cmdEnv is what the collection commands (collect, serve, runs, reindex) open, in order:
// config → logger → store → signer → index → connector registry.
type cmdEnv struct {
	cfg      *config.Config
	log      *slog.Logger
	repo     *store.Repo
	signer   *sign.Signer
	ix       *index.Index
	registry *connector.Registry
	eng      *controls.Engine // see engine
}

// envNeed says what a command opens beyond the config, the logger and the index.
type envNeed struct {
	repo   bool // the evidence store
	signer bool // the signing key (created, with a warning, if missing)
	// connectors checks every configured connector type against the registry, so an
	// unknown type is an error with its file:line before anything runs.
	connectors bool
}

func openCmdEnv(ctx context.Context, g *globals, stderr io.Writer, need envNeed) (*cmdEnv, error) {
	e, err := loadCmdEnv(g, stderr, need.connectors)
	if err != nil {
		return nil, err
	}
	if err := e.open(ctx, need); err != nil {
		return nil, err
	}
	return e, nil
}

// loadCmdEnv loads the config, the logger and (with connectors) the registry, and checks
// every configured connector type against it. It touches nothing in the data directory,
// so a command can refuse bad input before it creates a store, an index or a key.
func loadCmdEnv(g *globals, stderr io.Writer, connectors bool) (*cmdEnv, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	e := &cmdEnv{cfg: cfg, log: newLogger(cfg, stderr)}
	if connectors {
		e.registry = connectorRegistry()
		if err := cfg.CheckConnectorTypes(e.registry.Types()); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// open opens what need asks for beyond the config: store, signing key, and the index.
func (e *cmdEnv) open(ctx context.Context, need envNeed) error {
	var err error
	if need.repo {
		if e.repo, err = openStore(ctx, e.cfg); err != nil {
			return err
		}
	}
	if need.signer {
		var created bool
		if e.signer, created, err = sign.LoadOrGenerate(e.cfg.KeyDir()); err != nil {
			return fmt.Errorf("could not load the signing key: %w", err)
		}
		if created {
			e.log.Warn("created a new signing key; keep it safe and give its fingerprint to your auditor",
				"dir", e.cfg.KeyDir(), "fingerprint", e.signer.Fingerprint())
		}
	}
	e.ix, err = index.Open(ctx, e.cfg.IndexPath())
	return err
}

// checkSettings builds every instance's connector from its settings without network
// access, so invalid settings are errors with file:line before anything is written.
func (e *cmdEnv) checkSettings(insts []runner.Instance) error {
	chk := &runner.Runner{Secrets: e.cfg.Secrets(), Limits: runnerLimits(e.cfg)}
	return chk.Check(insts)
}

// runnerLimits are the connector limits of the config's runner section.
func runnerLimits(cfg *config.Config) connector.Limits {
	r := cfg.Runner
	return connector.Limits{MaxPages: r.MaxPages, MaxAttempts: r.MaxAttempts, MaxRetryAfter: r.MaxRetryAfter}
}

// dataTempDir is this process's directory in <data_dir>/tmp, created if needed, for spool
// files that may be large (run manifests, results, bundles); "" (the system's temporary
// directory) if it cannot be made. What killed processes left there is removed first (see
// lock.TempDir).
func dataTempDir(cfg *config.Config) string {
	tmp, err := lock.TempDir(filepath.Join(cfg.DataPath(), "tmp"))
	if err != nil {
		return ""
	}
	return tmp
}

// engine builds the config's controls engine, once. Commands that evaluate call it before
// they open the data directory, so that a bad rules file is reported before a store, an
// index or a key is created.
func (e *cmdEnv) engine() (*controls.Engine, error) {
	if e.eng == nil {
		eng, err := newControlsEngine(e.cfg)
		if err != nil {
			return nil, err
		}
		e.eng = eng
	}
	return e.eng, nil
}

// evaluator builds the config's controls engine for a runner: it judges each run's
// artefacts as the run is sealed, spooling in the runner's temporary directory.
func (e *cmdEnv) evaluator(r *runner.Runner) (*controls.Engine, error) {
	eng, err := e.engine()
	if err != nil {
		return nil, err
	}
	eng.TempDir = r.TempDir
	r.Evaluator = eng
	return eng, nil
}

var errNoConnectors = errors.New("no connectors to run: add connectors to the config (see `exhibit demo` for a working example)")

// openStore opens (creating it if needed) the configured evidence store.
func openStore(ctx context.Context, cfg *config.Config) (*store.Repo, error) {
	var repo *store.Repo
	var err error
	switch cfg.Store.Type {
	case "", "fs":
		repo, err = fsstore.OpenRepo(cfg.StoreDir())
	case "s3":
		repo, err = openS3Repo(ctx, cfg)
	default:
		return nil, fmt.Errorf("store type %q is not supported by this command yet", cfg.Store.Type)
	}
	if err == nil && wrapRepo != nil {
		repo = wrapRepo(repo)
	}
	return repo, err
}

// wrapRepo, if set (the crash tests), wraps every store a command opens, to stop the
// process at a chosen point of a seal.
var wrapRepo func(*store.Repo) *store.Repo

func (e *cmdEnv) Close() {
	if e.ix != nil {
		e.ix.Close()
	}
}

// newLogger returns the slog logger the config asks for: JSON when stderr is not a
// terminal (journald, containers, CI), text on a terminal.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	switch cfg.Log.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Log.Format
	if format == "" || format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newRunner returns a runner configured from the config.
func (e *cmdEnv) newRunner(command string, lockTimeout time.Duration) *runner.Runner {
	r := e.cfg.Runner
	return &runner.Runner{
		TempDir:     dataTempDir(e.cfg),
		Repo:        e.repo,
		Signer:      e.signer,
		Index:       e.ix,
		Logger:      e.log,
		Concurrency: r.Concurrency,
		RunDeadline: r.RunDeadline,
		Limits:      runnerLimits(e.cfg),
		Secrets:     e.cfg.Secrets(),
		DataDir:     e.cfg.DataPath(),
		LockTimeout: lockTimeout,
		Version:     version,
		Command:     command,
	}
}

// instances returns the configured connector instances to run: those named (an unknown or
// disabled name is an error), or every enabled one when names is empty.
func (e *cmdEnv) instances(names []string, late bool) ([]runner.Instance, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []runner.Instance
	var known []string
	for i, cc := range e.cfg.Connectors {
		known = append(known, cc.Name)
		if len(names) > 0 && !want[cc.Name] {
			continue
		}
		delete(want, cc.Name)
		if cc.Disabled {
			if len(names) > 0 {
				return nil, e.cfg.Errorf(fmt.Sprintf("connectors[%d].disabled", i), "connector %q is disabled", cc.Name)
			}
			continue
		}
		f, ok := e.registry.Lookup(cc.Type)
		if !ok {
			return nil, e.cfg.Errorf(fmt.Sprintf("connectors[%d].type", i), "unknown connector type %q (known: %s)", cc.Type, strings.Join(e.registry.Types(), ", "))
		}
		out = append(out, runner.Instance{Name: cc.Name, Factory: f, Settings: e.cfg.SettingsFor(i), Timeout: e.cfg.TimeoutFor(cc), RequestTimeout: cc.RequestTimeout, Late: late})
	}
	if len(want) > 0 {
		var unknown []string
		for _, n := range names {
			if want[n] {
				unknown = append(unknown, n)
			}
		}
		if len(known) == 0 {
			return nil, fmt.Errorf("unknown connector %s: the config has no connectors", strings.Join(unknown, ", "))
		}
		return nil, fmt.Errorf("unknown connector %s (configured: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	if len(out) == 0 {
		return nil, errNoConnectors
	}
	return out, nil
}

// minLevel drops records below a level, e.g. to keep info logs from tearing the progress
// display of a terminal.
// quietLogger keeps info logs from interleaving with a command's own progress output;
// warnings and errors still show.
func quietLogger(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{l.Handler(), slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
