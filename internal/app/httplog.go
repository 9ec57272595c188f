package app

import (
	"context"
	"log"
	"log/slog"
	"regexp"
	"strings"
)

// net/http logs its own errors (failed TLS handshakes, panics in handlers, broken
// connections) through a *log.Logger, naming the client's address: "http: TLS handshake
// error from 203.0.113.5:51234: ...". Client addresses must never reach the logs, so
// those lines go through slog with the addresses taken out.

// addrPattern matches an IPv4 or bracketed IPv6 address with its port.
var addrPattern = regexp.MustCompile(`\d{1,3}(\.\d{1,3}){3}(:\d+)?|\[[0-9A-Fa-f:.%\w]*\](:\d+)?`)

// httpErrorLog returns the ErrorLog of the HTTP server. Its lines are mostly noise from
// scanners and broken clients, hence debug level.
func httpErrorLog(logger *slog.Logger) *log.Logger {
	return log.New(redactingWriter{logger}, "", 0)
}

type redactingWriter struct{ log *slog.Logger }

func (w redactingWriter) Write(p []byte) (int, error) {
	msg := addrPattern.ReplaceAllString(strings.TrimSpace(string(p)), "<client>")
	w.log.Log(context.Background(), slog.LevelDebug, "http server", "err", msg)
	return len(p), nil
}
