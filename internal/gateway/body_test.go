package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// bodyTimeoutForTest is short, so that the tests of stalled bodies take a second.
const bodyTimeoutForTest = 300 * time.Millisecond

// bodyServer serves limitBody around handler, as the gateway does, on a real net/http
// server (the bug was in how net/http treats the connection after the handler).
func bodyServer(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(limitBody(1<<20, bodyTimeoutForTest, handler))
	srv.Config.ReadHeaderTimeout = 5 * time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// readsBody answers after reading the whole body, as grpc-gateway does when it decodes one.
func readsBody(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(r.Body); err != nil {
		http.Error(w, "the body could not be read", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stall sends a request announcing a large body, then one byte of it, and nothing more.
func stall(t *testing.T, addr, method string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, method+" /v1/x HTTP/1.1\r\nHost: rally\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedWithin reads the connection until the server closes it, and fails the test if that
// takes longer than within. It returns the status line of the answer, if any, and the rest.
func closedWithin(t *testing.T, c net.Conn, within time.Duration) (line, rest string) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	r := bufio.NewReader(c)
	line, _ = r.ReadString('\n')
	b, err := io.ReadAll(r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection of a stalled body was still open after %v", within)
	}
	return strings.TrimSpace(line), string(b)
}

// A body that stalls is cut off at the body timeout, answered, and its connection closed,
// whether the handler was reading it or had answered without it.
func TestStalledBodyClosesConnection(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		handler http.HandlerFunc
		method  string
		status  string
	}{
		"read by the handler": {readsBody, "POST", "400"},
		"never read":          {func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }, "GET", "200"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := stall(t, bodyServer(t, tc.handler), tc.method)
			line, _ := closedWithin(t, c, bodyTimeoutForTest+2*time.Second)
			if !strings.Contains(line, " "+tc.status+" ") {
				t.Errorf("answer %q, want %s before the close", line, tc.status)
			}
		})
	}
}

// A body that arrives in time lifts the deadline: a response that takes longer than the
// body timeout (a watch) is not cut off, and the connection is kept for the next request.
func TestBodyInTimeKeepsConnection(t *testing.T) {
	t.Parallel()
	addr := bodyServer(t, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		time.Sleep(2 * bodyTimeoutForTest)
		io.WriteString(w, "late")
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for i := range 2 {
		if _, err := io.WriteString(c, "POST /v1/x HTTP/1.1\r\nHost: rally\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "late" || err != nil {
			t.Fatalf("request %d: %d %q %v, want 200 and the late write", i+1, resp.StatusCode, body, err)
		}
		if resp.Close {
			t.Fatalf("request %d: the connection is to close", i+1)
		}
	}
}

// Through the gateway itself: a stalled body is the client's mistake (400 and
// INVALID_ARGUMENT, never a 5xx), answered before the gRPC port is asked anything (there
// is none here), in words that name no address, and its connection closed.
func TestStalledBodyThroughGateway(t *testing.T) {
	t.Parallel()
	gw, err := New(t.Context(), Options{GRPCTarget: "127.0.0.1:1", BodyTimeout: bodyTimeoutForTest})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "POST /v1/events/vigil/rsvps HTTP/1.1\r\nHost: rally\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{\"displayName\":"); err != nil {
		t.Fatal(err)
	}
	line, rest := closedWithin(t, c, bodyTimeoutForTest+2*time.Second)
	if !strings.Contains(line, " 400 ") || !strings.Contains(rest, `"code":3`) || !strings.Contains(rest, "did not arrive within 300ms") || strings.Contains(rest, "127.0.0.1") {
		t.Errorf("answer %q %s, want 400 with INVALID_ARGUMENT saying the body did not arrive in time, and no address", line, rest)
	}
}
