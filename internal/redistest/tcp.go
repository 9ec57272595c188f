package redistest

import (
	"net"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// portAttempts bounds how often a server is started again on other ports: a port found
// free can be taken by someone else before the server binds it.
const portAttempts = 5

// startTCP starts a server that needs n free loopback ports and listens on the first.
// args returns its other arguments (a config file first, if any), given its new
// directory, where it may write files, and the ports. A port taken by someone else
// before the server binds it means another attempt on other ports.
func startTCP(t testing.TB, bin string, n int, args func(dir string, ports []string) ([]string, error)) *Server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		free := freePorts(t, n)
		dir := t.TempDir()
		extra, err := args(dir, free)
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		listen := append(extra, "--port", free[0], "--bind", "127.0.0.1")
		s := &Server{bin: bin, dir: dir, addr: net.JoinHostPort("127.0.0.1", free[0]), listen: listen}
		t.Cleanup(s.Stop)
		err = s.start()
		if err == nil {
			s.client = goredis.NewClient(s.options())
			t.Cleanup(func() { s.client.Close() })
			return s
		}
		if attempt == portAttempts || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("redistest: %s on ports %v: %v", bin, free, err)
		}
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago: the kernel's
// choice for listeners on port 0, held together so that they differ, then released.
func freePorts(t testing.TB, n int) []string {
	t.Helper()
	ports := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: finding a free port: %v", err)
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports
}
