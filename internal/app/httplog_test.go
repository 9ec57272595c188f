package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestHTTPErrorLogRedactsAddresses(t *testing.T) {
	var buf bytes.Buffer
	l := httpErrorLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Printf("http: TLS handshake error from 203.0.113.5:51234: EOF")
	l.Printf("http: panic serving [2001:db8::1]:443: boom")
	l.Printf("http: panic serving [::ffff:10.0.0.1]:443: boom")
	out := buf.String()
	for _, addr := range []string{"203.0.113.5", "51234", "2001:db8", "10.0.0.1"} {
		if strings.Contains(out, addr) {
			t.Errorf("the log holds %s:\n%s", addr, out)
		}
	}
	if strings.Count(out, "<client>") != 3 || !strings.Contains(out, "TLS handshake error") {
		t.Errorf("log:\n%s", out)
	}
}
