package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/grpclog"
)

func TestHTTPErrorLogRedactsAddresses(t *testing.T) {
	var buf bytes.Buffer
	l := httpErrorLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Printf("http: TLS handshake error from 203.0.113.5:51234: EOF")
	l.Printf("http: panic serving [2001:db8::1]:443: boom")
	l.Printf("http: panic serving [::ffff:10.0.0.1]:443: boom")
	l.Printf("http2: server: error reading preface from client 2001:db8::1: EOF")
	out := buf.String()
	for _, addr := range []string{"203.0.113.5", "51234", "2001:db8", "10.0.0.1"} {
		if strings.Contains(out, addr) {
			t.Errorf("the log holds %s:\n%s", addr, out)
		}
	}
	if strings.Count(out, "<address>") != 4 || !strings.Contains(out, "TLS handshake error") {
		t.Errorf("log:\n%s", out)
	}
}

// grpclog's lines (grpc-gateway's about clients that left) reach the App's logger without
// the client's address, and its errors are sampled.
func TestGRPCLogRedactedAndSampled(t *testing.T) {
	var buf bytes.Buffer
	prev := grpcLog.Load()
	routeLibraryLogs(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		if prev != nil {
			routeLibraryLogs(prev)
		}
	})
	for range 50 {
		grpclog.Errorf("Failed to send response chunk: %v", "write tcp 127.0.0.1:8080->203.0.113.77:51234: write: broken pipe")
	}
	grpclog.Warningf("transport: closing for [2001:db8::77]:4433")
	grpclog.Infof("[core] connection from 203.0.113.77:1 opened")
	out := buf.String()
	for _, addr := range []string{"203.0.113.77", "2001:db8", "51234"} {
		if strings.Contains(out, addr) {
			t.Errorf("the log holds %s:\n%s", addr, out)
		}
	}
	if n := strings.Count(out, "Failed to send response chunk"); n != grpcLogBurst {
		t.Errorf("%d of 50 errors logged, want %d:\n%s", n, grpcLogBurst, out)
	}
	if !strings.Contains(out, "transport: closing") || strings.Contains(out, "[core]") {
		t.Errorf("warnings should be debug lines and info lines dropped:\n%s", out)
	}
}
