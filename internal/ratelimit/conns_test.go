package ratelimit

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// serveEcho accepts connections from l and echoes on them until they close.
func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { io.Copy(c, c); c.Close() }()
	}
}

// alive reports whether the server keeps the connection open: it echoes a byte.
func alive(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte{1}); err != nil {
		return false
	}
	_, err := c.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server neither echoed nor closed the connection")
	}
	return err == nil
}

func TestLimitListener(t *testing.T) {
	for name, exempt := range map[string]func(netip.Addr) bool{"counted": nil, "exempt": func(a netip.Addr) bool { return a.IsLoopback() }} {
		t.Run(name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := LimitListener(inner, 2, exempt, slog.New(slog.DiscardHandler))
			defer l.Close()
			go serveEcho(l)
			dial := func() net.Conn {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			a, b, c := dial(), dial(), dial()
			if !alive(t, a) || !alive(t, b) {
				t.Fatal("connections within the cap were closed")
			}
			if got, want := alive(t, c), exempt != nil; got != want {
				t.Fatalf("the third connection alive: %v, want %v", got, want)
			}
			// A closed connection gives its place back.
			a.Close()
			time.Sleep(50 * time.Millisecond) // for the server to see the close
			if d := dial(); !alive(t, d) {
				t.Error("a connection after one closed was refused")
			}
		})
	}
}

func TestLimitListenerOff(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	if l := LimitListener(inner, 0, nil, nil); l != inner {
		t.Error("a cap of 0 wrapped the listener")
	}
}
