// Command runnel runs the Runnel streaming SQL platform: `runnel cluster`
// starts the API, controller and embedded workers in one process, and the
// pipeline, job, preview and validate commands manage and watch jobs on a
// running server through pkg/client.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code (see exitCode).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ran := false
	err := root.ExecuteContext(context.WithValue(ctx, ranKey{}, &ran))
	if err == nil {
		return 0
	}
	var se silentError
	if !errors.As(err, &se) {
		fmt.Fprintln(stderr, "Error:", err)
	}
	if !ran {
		// cobra refused the command line before any command ran:
		// unknown command, wrong arguments, missing required flags.
		return 1
	}
	return exitCode(err)
}

// usageError marks errors caused by what the user typed (exit code 1), as
// opposed to failures of the server or the environment (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }
