// Package redistest runs a private redis-server for a test, so that tests of Redis code
// use a real server without sharing it (or the machine's Redis) with anything else.
//
// Each server listens on a unix socket in the test's temporary directory, with no TCP
// port and no persistence, and is stopped when the test ends. Tests that start their own
// server can run in parallel.
//
// StartCluster starts a Redis Cluster of three masters instead, for the code that must
// also work when keys live on different nodes, and StartSentinel a master behind a
// Sentinel. Those listen on loopback ports: Cluster nodes and Sentinel tell clients
// where to go by IP and port, and the cluster bus is TCP.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// binary is the server executable, looked up on PATH.
const binary = "redis-server"

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// maxSocketPath keeps the socket path under the kernel's limit for unix socket addresses
// (108 bytes on Linux, 104 on BSDs, including the terminating NUL).
const maxSocketPath = 100

// Server is a redis-server started for one test: on a unix socket (Start), or on a
// loopback port (a Cluster node, a Sentinel or its master).
type Server struct {
	bin    string
	dir    string   // working directory and home of the socket
	socket string   // "" for a server on TCP
	addr   string   // host:port of a server on TCP, "" for one on a unix socket
	listen []string // the arguments that say where and how it listens

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	client *goredis.Client
}

// Start starts a redis-server for t and stops it when t ends. It fails t if redis-server
// is not installed or does not answer within a few seconds. It never skips: a test that
// needs Redis and silently does not run hides what it was meant to catch.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, binary)
}

// lookPath returns the path of the named executable, failing t with an install hint if
// it is missing.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("redistest: %s not found on PATH (%v): these tests need a real Redis; "+
			"install the Debian package redis-server (apt-get install redis-server, which "+
			"brings redis-cli in redis-tools), which `make test` installs", name, err)
	}
	return bin
}

func start(t testing.TB, name string) *Server {
	t.Helper()
	bin := lookPath(t, name)
	dir := t.TempDir()
	socket := filepath.Join(dir, "redis.sock")
	if len(socket) > maxSocketPath {
		// A long TMPDIR or test name: fall back to a short directory of our own.
		short, err := os.MkdirTemp("", "redistest")
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(short) })
		dir, socket = short, filepath.Join(short, "redis.sock")
	}
	s := &Server{bin: bin, dir: dir, socket: socket, listen: []string{
		"--port", "0", // no TCP: nothing else on the machine can reach it
		"--unixsocket", socket,
		"--unixsocketperm", "700",
	}}
	// Cleanups run last-registered first: the client closes before the server stops.
	t.Cleanup(s.Stop)
	if err := s.start(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s.client = goredis.NewClient(s.options())
	t.Cleanup(func() { s.client.Close() })
	return s
}

// options are the client options that reach the server.
func (s *Server) options() *goredis.Options {
	if s.socket == "" {
		return &goredis.Options{Addr: s.addr}
	}
	return &goredis.Options{Network: "unix", Addr: s.socket}
}

// Client returns a client of the server, closed when the test ends. Every call returns the
// same client; it reconnects by itself after Restart.
func (s *Server) Client() *goredis.Client { return s.client }

// URL returns the server's address as a URL that redis.ParseURL accepts.
func (s *Server) URL() string {
	if s.socket == "" {
		return "redis://" + s.addr
	}
	return "unix://" + s.socket
}

// Socket returns the path of the server's unix socket, "" for a server on TCP.
func (s *Server) Socket() string { return s.socket }

// Addr returns the host:port of a server on TCP, "" for one on a unix socket.
func (s *Server) Addr() string { return s.addr }

// Restart stops the server and starts a new one on the same socket or port. The data is lost,
// as in a failover to an empty replica or a restart without persistence.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restarting: %v", err)
	}
}

// Stop stops the server. Commands fail until Restart. Stopping twice is harmless.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	// SIGTERM makes Redis shut down cleanly (no save: persistence is off) and remove its
	// socket; SIGKILL is the fallback for a server that hangs.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
	if s.socket != "" {
		_ = os.Remove(s.socket)
	}
}

// start runs the server and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, append(slices.Clone(s.listen),
		"--save", "", // no RDB snapshots
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", s.logFile(), // shown when the server fails to start
		"--daemonize", "no",
	)...)
	cmd.Dir = s.dir
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	// Poll with a throwaway client: the shared one would keep a failed connection state.
	opts := s.options()
	opts.MaxRetries, opts.DialTimeout, opts.PoolSize = -1, 200*time.Millisecond, 1
	c := goredis.NewClient(opts)
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	var err error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("%s exited before answering PING: %s", s.bin, s.logText())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			break
		}
	}
	_ = cmd.Process.Kill()
	<-exited
	s.cmd = nil
	return errors.Join(fmt.Errorf("%s did not answer PING within %v: %s", s.bin, startTimeout, s.logText()), err)
}

// logFile is where the server logs.
func (s *Server) logFile() string { return filepath.Join(s.dir, "redis.log") }

// logText returns the end of the server's log.
func (s *Server) logText() string {
	b, err := os.ReadFile(s.logFile())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "\n" + string(b)
}
