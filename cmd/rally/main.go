// Command rally is the command-line client of Rally for organisers and the operator: it
// logs in with an API token and manages organisers, tokens, campaigns, events, their
// RSVPs and tasks over gRPC. Participants RSVP and volunteers claim tasks with it too,
// without an account. Run `rally --help` for the commands and the exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	_ "time/tzdata" // event times are shown in the event's zone even where the OS has no tz database
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
