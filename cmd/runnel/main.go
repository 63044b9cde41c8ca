// Command runnel runs the Runnel streaming SQL platform: `runnel cluster`
// starts the API, controller and embedded workers in one process.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ue usageError
		fmt.Fprintln(os.Stderr, "Error:", err)
		if errors.As(err, &ue) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// usageError marks errors caused by what the user typed (exit code 1), as
// opposed to failures of the server or the environment (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }
