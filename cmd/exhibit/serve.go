package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/core/lock"
	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/core/schedule"
	"github.com/exhibit-dev/exhibit/core/server"
)

type serveOptions struct {
	listen      string
	lockTimeout time.Duration
	// onListen, if set, is told the bound address (tests listen on port 0).
	onListen func(net.Addr)
	// clock, if set, drives the scheduler (tests).
	clock schedule.Clock
	// onRun, if set, is told about every sealed scheduled run (tests).
	onRun func(*runner.Summary)
}

func newServeCmd(g *globals) *cobra.Command {
	opts := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR]",
		Short: "Run the scheduler and the HTTP endpoints",
		Long: `Run Exhibit as a daemon: collect from each connector on its schedule (schedule.default or
the connector's own, in schedule.time_zone, with schedule.jitter), and serve

  /healthz  200 while the process runs
  /readyz   200 once the index is open and the scheduler has started
  /metrics  Prometheus metrics: runs by outcome, artefacts and gaps per connector, durations,
            last successful collection per connector, upstream requests and throttles

A scheduled run of a connector whose previous run is still going is skipped (and counted).
With schedule.catch_up (the default), a run missed while Exhibit was down runs once at
start-up, recorded as late. One serve runs per data directory (a second is refused). serve
locks the data directory only while it writes (its recovery at start, each run), so exhibit
collect, evidence add and controls evaluate work while it runs: between its runs at once,
during one after waiting for it (--lock-timeout); a scheduled run that finds the directory
busy waits for it. SIGTERM or SIGINT stops it gracefully: runs in progress are sealed as
interrupted with what they collected.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, opts, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.listen, "listen", "", "HTTP listen address (default server.listen, 127.0.0.1:9464)")
	cmd.Flags().DurationVar(&opts.lockTimeout, "lock-timeout", 0, "how long to wait for another process using the data directory (0: give up at once)")
	return cmd
}

// scheduledLockWait is how long a scheduled run waits for another process (a collect) to
// release the data directory: as long as that process's run may take.
func scheduledLockWait(runDeadline time.Duration) time.Duration {
	if runDeadline > 0 {
		return runDeadline + time.Minute
	}
	return 6 * time.Hour
}

func runServe(ctx context.Context, g *globals, opts serveOptions, stderr io.Writer) error {
	// The rules are checked before the data directory is touched.
	e, err := loadCmdEnv(g, stderr, true)
	if err != nil {
		return err
	}
	eng, err := e.engine()
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.open(ctx, envNeed{repo: true, signer: true}); err != nil {
		return err
	}
	log := e.log
	listen := opts.listen
	if listen == "" {
		listen = e.cfg.Server.Listen
	}
	eng.TempDir = dataTempDir(e.cfg) // as the runners' own spool files
	// One scheduler per data directory. The data directory's write lock is taken only
	// while serve writes (the recovery below, each run), so exhibit collect can run between.
	sl, err := lock.AcquireFile(ctx, e.cfg.DataPath(), lock.ServeFileName, opts.lockTimeout, "exhibit serve")
	if err != nil {
		return err
	}
	defer sl.Release()

	reg, metrics := server.NewRegistry()
	newRunner := func(lockTimeout time.Duration) *runner.Runner {
		r := e.newRunner("exhibit serve", lockTimeout)
		r.Evaluator = eng
		r.Observe = metrics.ObserveExchange
		return r
	}
	recovered, err := newRunner(opts.lockTimeout).Recover(ctx)
	if err != nil {
		return err
	}
	for _, s := range recovered {
		metrics.ObserveRun(s)
	}
	if last, err := e.ix.LastSuccess(ctx); err == nil {
		for inst, t := range last {
			metrics.SetLastSuccess(inst, t)
		}
	}

	loc, err := time.LoadLocation(e.cfg.Schedule.TimeZone)
	if err != nil {
		return e.cfg.Errorf("schedule.time_zone", "unknown time zone %q", e.cfg.Schedule.TimeZone)
	}
	if insts, err := e.instances(nil, false); err == nil {
		if err := e.checkSettings(insts); err != nil {
			return err
		}
	}
	var entries []schedule.Entry
	for _, cc := range e.cfg.Connectors {
		if !cc.Disabled {
			entries = append(entries, schedule.Entry{Instance: cc.Name, Spec: e.cfg.ScheduleFor(cc)})
		}
	}
	trigger := func(ctx context.Context, names []string, late bool) {
		insts, err := e.instances(names, late)
		if err != nil {
			log.Error("scheduled run not started", "connectors", names, "err", err)
			return
		}
		metrics.RunStarted()
		defer metrics.RunEnded()
		// A collect may hold the data directory: wait for it rather than skip the run.
		sum, err := newRunner(scheduledLockWait(e.cfg.Runner.RunDeadline)).Run(ctx, insts)
		if err != nil {
			log.Error("scheduled run failed", "connectors", names, "err", err)
			return
		}
		metrics.ObserveRun(sum)
		if opts.onRun != nil {
			opts.onRun(sum)
		}
	}
	sched, err := schedule.New(entries, trigger, schedule.Options{
		Location:    loc,
		Jitter:      e.cfg.Schedule.Jitter,
		CatchUp:     *e.cfg.Schedule.CatchUp,
		LastSuccess: e.ix.LastSuccess,
		Clock:       opts.clock,
		Logger:      log,
		OnSkip:      metrics.Skipped,
	})
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		log.Warn("no connectors configured: serving health and metrics only")
	}

	var ready atomic.Bool
	handler := server.Handler(server.Options{
		Gatherer: reg,
		Logger:   log,
		Ready: func(ctx context.Context) error {
			if !ready.Load() || !sched.Started() {
				return errors.New("scheduler not started")
			}
			if err := e.ix.DB().PingContext(ctx); err != nil {
				return fmt.Errorf("index: %w", err)
			}
			return nil
		},
	})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var schedErr, httpErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel()
		httpErr = server.Serve(ctx, listen, handler, log, opts.onListen)
	}()
	go func() {
		defer wg.Done()
		defer cancel()
		ready.Store(true)
		schedErr = sched.Start(ctx)
	}()
	wg.Wait()
	log.Info("stopped")
	return errors.Join(httpErr, schedErr)
}
