// Command exhibit collects audit evidence, keeps it hashed, signed and immutable, maps it to
// ISO/IEC 27001 and BSI IT-Grundschutz controls, and builds evidence bundles that auditors
// verify offline.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	_ "time/tzdata" // schedules name IANA time zones; do not depend on the host's zoneinfo
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(root.ErrOrStderr(), "exhibit:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(root.ErrOrStderr(), "exhibit:", err)
	return 1
}

// exitError carries a documented exit code out of a command. err may be nil when the
// command has already printed what went wrong.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode returns an error that makes exhibit exit with code, printing err if not nil.
func exitCode(code int, err error) error { return &exitError{code: code, err: err} }
