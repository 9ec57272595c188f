package calllog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc/codes"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func newLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"rpc error: code = NotFound desc = events/abc/rsvps/Xy_z-9: not found":        "rpc error: code = NotFound desc = events/abc/rsvps/…: not found",
		`"tasks/t1/claims/c2" is not open; events/e/rsvps/r (held)`:                   `"tasks/t1/claims/…" is not open; events/e/rsvps/… (held)`,
		"events/abc/rsvps/(by token): not found":                                      "events/abc/rsvps/(by token): not found", // names no RSVP
		"bad token rly_rsvp_AbCdEf0123456789-_xyz here":                               "bad token rly_rsvp_… here",
		"events/abc and campaigns/xyz and organisers/o/apiTokens/t stay":              "events/abc and campaigns/xyz and organisers/o/apiTokens/t stay",
		"events/abc/rsvps: the collection alone stays; RLY_ORG_Secret is cut as well": "events/abc/rsvps: the collection alone stays; RLY_ORG_… is cut as well",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

func TestRedactAddrs(t *testing.T) {
	for _, in := range []string{
		"write tcp 127.0.0.1:8080->203.0.113.77:51234: write: broken pipe",
		"from [2001:db8::77]:443: EOF",
		"peer 2001:db8::77 and 2001:db8::/64 and 2001:0db8:0000:0000:0000:0000:0000:0077",
		"mapped ::ffff:203.0.113.77 and [::ffff:203.0.113.77]:9 and 203.0.113.77/32",
		"zone fe80::1%eth0 and loopback ::1",
	} {
		out := RedactAddrs(in)
		for _, frag := range []string{"203.0", "113.77", "2001", "db8", "fe80", "::1", "51234", "0077", "ffff"} {
			if strings.Contains(out, frag) {
				t.Errorf("RedactAddrs(%q) = %q: %q is left", in, out, frag)
			}
		}
		if !strings.Contains(out, "<address>") {
			t.Errorf("RedactAddrs(%q) = %q", in, out)
		}
	}
	// Times and ordinary words stay.
	for _, in := range []string{"at 12:30:45 on 2030-05-17T12:00:00Z", "invalid request: event.start_time: must be before end_time", "grpc.code"} {
		if out := RedactAddrs(in); out != in {
			t.Errorf("RedactAddrs(%q) = %q, want it unchanged", in, out)
		}
	}
}

func TestRefusal(t *testing.T) {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		want := c != codes.OK && c != codes.Internal && c != codes.Unknown && c != codes.DataLoss
		if Refusal(c) != want || codeRefused(c.String()) != want {
			t.Errorf("Refusal(%v) = %v, want %v", c, Refusal(c), want)
		}
	}
	if codeRefused("Bogus") {
		t.Error("an unknown code is sampled; it should be logged like a fault")
	}
}

// fields are what the logging interceptor gives for a finished call.
func fields(method, code, err string) []any {
	return []any{"protocol", "grpc", logging.ServiceFieldKey, "rally.v1.EventService", logging.MethodFieldKey, method,
		"peer.address", "203.0.113.77:5555", "grpc.code", code, "grpc.error", err}
}

func TestLoggerSamplesRefusalsAndKeepsFaults(t *testing.T) {
	var buf syncBuffer
	l := New(newLogger(&buf))
	ctx := context.Background()
	for range 400 {
		l.Log(ctx, logging.LevelWarn, "finished call", fields("GetEvent", "ResourceExhausted", "rpc error: code = ResourceExhausted desc = rate limit exceeded")...)
		l.Log(ctx, logging.LevelInfo, "finished call", fields("GetRsvp", "Unauthenticated", "rpc error: code = Unauthenticated desc = the bearer token is not valid")...)
	}
	for range 20 {
		l.Log(ctx, logging.LevelError, "finished call", fields("GetEvent", "Internal", "rpc error: code = Internal desc = internal error")...)
	}
	l.Log(ctx, logging.LevelInfo, "finished call", fields("GetRsvp", "NotFound", "rpc error: code = NotFound desc = events/e/rsvps/r1: not found")...)
	l.Log(ctx, logging.LevelDebug, "finished call", fields("GetEvent", "OK", "")...)

	count := map[string]int{}
	for _, line := range buf.lines(t) {
		if _, ok := line["peer.address"]; ok {
			t.Errorf("a line holds the peer's address: %v", line)
		}
		if e, _ := line["grpc.error"].(string); strings.Contains(e, "r1") {
			t.Errorf("a line holds an RSVP's name: %v", line)
		}
		count[line["grpc.method"].(string)+" "+line["grpc.code"].(string)]++
	}
	want := map[string]int{"GetEvent ResourceExhausted": Burst, "GetRsvp Unauthenticated": Burst, "GetEvent Internal": 20,
		"GetRsvp NotFound": 1, "GetEvent OK": 1}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s: %d lines, want %d (all: %v)", k, count[k], n, count)
		}
	}
}

func TestSamplerSummary(t *testing.T) {
	var buf syncBuffer
	s := NewSampler(newLogger(&buf), 2, 100*time.Millisecond, "more refused calls suppressed")
	allowed := 0
	for range 10 {
		if s.Allow("k", slog.LevelWarn, "grpc.method", "GetEvent") {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("%d of 10 allowed in one window, want 2", allowed)
	}
	// The summary comes when the window ends, with no further call.
	deadline := time.Now().Add(5 * time.Second)
	for len(buf.lines(t)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines := buf.lines(t)
	if len(lines) != 1 || lines[0]["msg"] != "8 more refused calls suppressed" || lines[0]["suppressed"] != float64(8) ||
		lines[0]["grpc.method"] != "GetEvent" || lines[0]["level"] != "WARN" {
		t.Fatalf("summary lines %v", lines)
	}
	// A new window lets lines through again, and a window without suppression has no
	// summary.
	if !s.Allow("k", slog.LevelWarn) {
		t.Error("the next window refused its first line")
	}
	time.Sleep(200 * time.Millisecond)
	if !s.Allow("k", slog.LevelWarn) {
		t.Error("the window after that refused its first line")
	}
	if n := len(buf.lines(t)); n != 1 {
		t.Errorf("%d lines, want only the first summary", n)
	}
}

// A window that ended while calls keep coming is summarised by the next call if its timer
// has not fired yet, exactly once.
func TestSamplerSummaryOnce(t *testing.T) {
	var buf syncBuffer
	s := NewSampler(newLogger(&buf), 1, 20*time.Millisecond, "suppressed")
	stop := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed, refused := 0, 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				ok := s.Allow("k", slog.LevelInfo)
				mu.Lock()
				if ok {
					allowed++
				} else {
					refused++
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // the last window's timer
	total := 0
	for _, l := range buf.lines(t) {
		total += int(l["suppressed"].(float64))
	}
	if total != refused || refused == 0 {
		t.Errorf("summaries count %d suppressed lines, the sampler refused %d (allowed %d)", total, refused, allowed)
	}
}
