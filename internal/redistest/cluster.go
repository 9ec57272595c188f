package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// cliBinary creates the Cluster, looked up on PATH (Debian: redis-tools, which
// redis-server depends on).
const cliBinary = "redis-cli"

// clusterMasters is the size of a test Cluster: three is the smallest that redis-cli
// accepts, and enough for keys of one request to land on different nodes.
const clusterMasters = 3

// Bounds of the Cluster's start. redis-cli checks whether the nodes agree once a
// second, so joining takes a few seconds even on a quiet machine.
const (
	createTimeout = 60 * time.Second
	stateTimeout  = 20 * time.Second
)

// Cluster is a Redis Cluster of three masters without replicas on loopback, started for
// one test. Every slot is served, so any key can be written.
type Cluster struct {
	nodes  []*Server
	client *goredis.ClusterClient
}

// StartCluster starts a Cluster for t and stops it when t ends. Like Start it fails t,
// never skips it, if redis-server or redis-cli is missing or the Cluster does not form.
// The Cluster is empty; tests that share one keep apart by key prefix.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return startCluster(t, binary, cliBinary)
}

func startCluster(t testing.TB, serverName, cliName string) *Cluster {
	t.Helper()
	bin, cli := lookPath(t, serverName), lookPath(t, cliName)
	c := &Cluster{}
	for range clusterMasters {
		c.nodes = append(c.nodes, startNode(t, bin))
	}

	ctx, cancel := context.WithTimeout(context.Background(), createTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.CommandContext(ctx, cli, args...)
	setProcAttr(cmd)
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redistest: %s --cluster create: %v\n%s%s", cli, err, out, c.logs())
	}
	if err := c.waitOK(ctx); err != nil {
		t.Fatalf("redistest: %v%s", err, c.logs())
	}

	c.client = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs()})
	// Registered after the nodes' Stop, so it runs before them.
	t.Cleanup(func() { c.client.Close() })
	return c
}

// startNode starts one empty cluster-enabled redis-server on free loopback ports.
func startNode(t testing.TB, bin string) *Server {
	t.Helper()
	return startTCP(t, bin, 2, func(_ string, ports []string) ([]string, error) {
		return []string{
			"--cluster-enabled", "yes",
			// Not the default port+10000: that is beyond 65535 for most of the
			// ephemeral range that free ports come from.
			"--cluster-port", ports[1],
			"--cluster-config-file", "nodes-" + ports[0] + ".conf",
			// Nodes ping those they have not heard from for half this time, so they learn
			// of each other sooner than with the default 15s: the join takes 1 to 5
			// seconds instead of up to 10. Still long enough that a node stalled on a
			// loaded machine is not taken for failed, which without replicas would take
			// the whole Cluster down.
			"--cluster-node-timeout", "2000",
		}, nil
	})
}

// waitOK waits until every node reports cluster_state:ok, so that none of them answers
// CLUSTERDOWN to the first commands of a test.
func (c *Cluster) waitOK(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	for _, n := range c.nodes {
		for {
			info, err := n.client.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("node %s not in cluster_state:ok: %v %q", n.addr, err, info)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// logs returns the end of every node's log, for failure messages.
func (c *Cluster) logs() string {
	var b strings.Builder
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "\n--- node %s:%s", n.addr, n.logText())
	}
	return b.String()
}

// Client returns a cluster client of the Cluster, closed when the test ends. Every call
// returns the same client.
func (c *Cluster) Client() *goredis.ClusterClient { return c.client }

// Nodes returns the Cluster's masters; each Server's Client talks to that node alone.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// Addrs returns the host:port of every node.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr
	}
	return addrs
}

// URL returns the Cluster's address as Rally's --redis-url takes it:
// redis+cluster://<node 1>?addr=<node 2>&addr=<node 3>.
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	return "redis+cluster://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
}
