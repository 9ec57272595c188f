package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// SentinelMaster is the name the Sentinel of StartSentinel monitors its master under.
const SentinelMaster = "rally"

// Sentinel is a master and one Sentinel that monitors it, on loopback, started for one
// test: enough for a client to find the master through Sentinel, not for a failover.
type Sentinel struct {
	master, sentinel *Server
}

// StartSentinel starts a master and a Sentinel for t and stops them when t ends. Like
// Start it fails t, never skips it, if redis-server is missing.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := lookPath(t, binary)
	master := startTCP(t, bin, 1, func(string, []string) ([]string, error) { return nil, nil })
	sentinel := startTCP(t, bin, 1, func(dir string, _ []string) ([]string, error) {
		// Sentinel rewrites its configuration file, so it needs one of its own; the
		// master is the only thing that cannot be given on the command line.
		conf := filepath.Join(dir, "sentinel.conf")
		host, port, _ := net.SplitHostPort(master.addr)
		monitor := fmt.Sprintf("sentinel monitor %s %s %s 1\n", SentinelMaster, host, port)
		if err := os.WriteFile(conf, []byte(monitor), 0o600); err != nil {
			return nil, err
		}
		return []string{conf, "--sentinel"}, nil
	})
	return &Sentinel{master: master, sentinel: sentinel}
}

// Master returns the master; its Client talks to it directly.
func (s *Sentinel) Master() *Server { return s.master }

// Sentinel returns the Sentinel; its Client talks Sentinel's commands.
func (s *Sentinel) Sentinel() *Server { return s.sentinel }

// URL returns the address as Rally's --redis-url takes it:
// redis+sentinel://<sentinel>?master_name=rally.
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + s.sentinel.addr + "?master_name=" + SentinelMaster
}
