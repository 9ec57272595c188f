//go:build unix

package redistest

import (
	"errors"
	"syscall"
	"testing"
)

// Freeze stops the server's process (SIGSTOP) without ending it, as a long fork or a
// network partition stops a real Redis: its sockets stay open and the kernel even accepts
// new connections into the listen queue, but nothing is answered, so clients see neither
// a refused connection nor an error, only silence until their own timeouts. That is the
// outage a closed server (Stop) does not show. Thaw resumes it with its data. A server
// still frozen when the test ends is thawed first, so that it can be stopped cleanly.
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { _ = s.signalRunning(syscall.SIGCONT) })
}

// Thaw resumes a frozen server (SIGCONT): it answers again what it was sent meanwhile,
// to clients that still wait. Thawing a running server is harmless.
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGCONT)
}

// Freeze freezes every node of the Cluster (see Server.Freeze): the whole Cluster hangs.
func (c *Cluster) Freeze(t testing.TB) {
	t.Helper()
	for _, n := range c.nodes {
		n.Freeze(t)
	}
}

// Thaw resumes every node of the Cluster.
func (c *Cluster) Thaw(t testing.TB) {
	t.Helper()
	for _, n := range c.nodes {
		n.Thaw(t)
	}
}

// signal sends sig to the server's process, failing t if it is not running.
func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := s.signalRunning(sig); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// signalRunning sends sig to the server's process, if it runs.
func (s *Server) signalRunning(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errNotRunning
	}
	return s.cmd.Process.Signal(sig)
}

// errNotRunning is signal's error for a server that was stopped (or never started).
var errNotRunning = errors.New("the server is not running (stopped, or not restarted)")
