package app

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/grpclog"

	"github.com/rallyhq/rally/internal/calllog"
)

// Libraries log on their own, outside slog, and some of their lines name the client's
// address. net/http logs its errors (failed TLS handshakes, panics in handlers, broken
// connections) through a *log.Logger: "http: TLS handshake error from 203.0.113.5:51234:
// ...". gRPC and grpc-gateway log through grpclog, which by default writes errors to
// standard error, such as grpc-gateway's "Failed to send response chunk: write tcp
// 127.0.0.1:8080->203.0.113.5:51234: write: broken pipe" when a browser leaves a watch
// stream. Client addresses must never reach the logs, so those lines go through slog with
// every address taken out (calllog.RedactAddrs), and participants' names and tokens too
// (calllog.Redact).

// httpErrorLog returns the ErrorLog of the HTTP server. Its lines are mostly noise from
// scanners and broken clients, hence debug level.
func httpErrorLog(logger *slog.Logger) *log.Logger {
	return log.New(redactingWriter{logger}, "", 0)
}

type redactingWriter struct{ log *slog.Logger }

func (w redactingWriter) Write(p []byte) (int, error) {
	w.log.Log(context.Background(), slog.LevelDebug, "http server", "err", redactLine(string(p)))
	return len(p), nil
}

// redactLine is a library's log line without addresses, participants' names or tokens.
func redactLine(s string) string {
	return calllog.RedactAddrs(calllog.Redact(strings.TrimSpace(s)))
}

// grpcLog is where grpclog's lines go: the logger of the rallyd started last in this
// process (there is one, except in tests and rallybench), or standard error before the
// first.
var grpcLog atomic.Pointer[slog.Logger]

// grpcLogEvery and grpcLogBurst sample grpclog's errors: grpc-gateway logs one for each
// client that leaves a stream or a response early, which a flood of clients can repeat
// at will.
const (
	grpcLogBurst = 5
	grpcLogEvery = time.Minute
)

// grpcLogSampler samples grpclog's errors for the logger in grpcLog; replaced with it.
var grpcLogSampler atomic.Pointer[calllog.Sampler]

// init installs the forwarder before anything in the process uses gRPC: grpclog's
// SetLoggerV2 is not safe to call once gRPC runs, so each App only swaps the target.
func init() { grpclog.SetLoggerV2(grpcLogger{}) }

// routeLibraryLogs sends grpclog's lines to l from now on.
func routeLibraryLogs(l *slog.Logger) {
	grpcLogSampler.Store(calllog.NewSampler(l, grpcLogBurst, grpcLogEvery, "more gRPC library errors suppressed"))
	grpcLog.Store(l)
}

// grpcLogger is grpclog's LoggerV2 writing to grpcLog. Info lines (connections opening
// and closing, resolver and balancer chatter) are dropped, as grpclog's default logger
// drops them; warnings are debug lines; errors are warnings, sampled: those of
// grpc-gateway are nearly all about clients that left, and rallyd's own faults surface
// as failed calls, which are logged one by one.
type grpcLogger struct{}

func (grpcLogger) log(level slog.Level, msg string) {
	l := grpcLog.Load()
	if l == nil {
		// No App has started (rallybench's clients, say): what grpclog's default does,
		// errors to standard error, without addresses all the same.
		if level >= slog.LevelWarn {
			fmt.Fprintln(os.Stderr, "grpc:", redactLine(msg))
		}
		return
	}
	if !l.Enabled(context.Background(), level) {
		return
	}
	if level >= slog.LevelWarn && level < slog.LevelError {
		if s := grpcLogSampler.Load(); s != nil && !s.Allow("grpc", level) {
			return
		}
	}
	l.Log(context.Background(), level, "grpc", "line", redactLine(msg))
}

func (grpcLogger) Info(...any)                   {}
func (grpcLogger) Infoln(...any)                 {}
func (grpcLogger) Infof(string, ...any)          {}
func (g grpcLogger) Warning(a ...any)            { g.log(slog.LevelDebug, fmt.Sprint(a...)) }
func (g grpcLogger) Warningln(a ...any)          { g.log(slog.LevelDebug, fmt.Sprintln(a...)) }
func (g grpcLogger) Warningf(f string, a ...any) { g.log(slog.LevelDebug, fmt.Sprintf(f, a...)) }
func (g grpcLogger) Error(a ...any)              { g.log(slog.LevelWarn, fmt.Sprint(a...)) }
func (g grpcLogger) Errorln(a ...any)            { g.log(slog.LevelWarn, fmt.Sprintln(a...)) }
func (g grpcLogger) Errorf(f string, a ...any)   { g.log(slog.LevelWarn, fmt.Sprintf(f, a...)) }
func (g grpcLogger) Fatal(a ...any)              { g.fatal(fmt.Sprint(a...)) }
func (g grpcLogger) Fatalln(a ...any)            { g.fatal(fmt.Sprintln(a...)) }
func (g grpcLogger) Fatalf(f string, a ...any)   { g.fatal(fmt.Sprintf(f, a...)) }

// V reports whether verbose lines are wanted: never, as with grpclog's default.
func (grpcLogger) V(int) bool { return false }

// fatal logs and exits, as grpclog's Fatal must.
func (g grpcLogger) fatal(msg string) {
	g.log(slog.LevelError, msg)
	os.Exit(1)
}
