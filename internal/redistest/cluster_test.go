package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestStartCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Now()
	c := StartCluster(t)
	t.Logf("cluster of %d masters up in %v", len(c.Nodes()), time.Since(start).Round(time.Millisecond))

	// Three masters, each serving a third of the slots; nothing persisted.
	if len(c.Nodes()) != 3 {
		t.Fatalf("%d nodes, want 3", len(c.Nodes()))
	}
	for _, n := range c.Nodes() {
		if !strings.HasPrefix(n.Addr(), "127.0.0.1:") {
			t.Errorf("node on %q, want loopback", n.Addr())
		}
		info, err := n.Client().ClusterInfo(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:3", "cluster_size:3"} {
			if !strings.Contains(info, want) {
				t.Errorf("node %s: CLUSTER INFO lacks %s:\n%s", n.Addr(), want, info)
			}
		}
		cfg, err := n.Client().ConfigGet(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if cfg["save"] != "" || cfg["appendonly"] != "no" || cfg["bind"] != "127.0.0.1" {
			t.Errorf("node %s: save %q, appendonly %q, bind %q", n.Addr(), cfg["save"], cfg["appendonly"], cfg["bind"])
		}
	}

	// The cluster client spreads keys over every node.
	cc := c.Client()
	for i := range 100 {
		if err := cc.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes() {
		size, err := n.Client().DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if size == 0 || size == 100 {
			t.Errorf("node %s holds %d of the 100 keys", n.Addr(), size)
		}
	}

	// A single-node client is redirected for another node's slot, as a cluster should.
	if err := c.Nodes()[0].Client().Get(ctx, "k0").Err(); err != nil && !strings.HasPrefix(err.Error(), "MOVED") {
		t.Errorf("GET on one node: %v, want a value or MOVED", err)
	}

	// URL is what ParseClusterURL takes once the scheme is plain redis://.
	opts, err := goredis.ParseClusterURL(strings.Replace(c.URL(), "redis+cluster://", "redis://", 1))
	if err != nil {
		t.Fatalf("ParseClusterURL(%q): %v", c.URL(), err)
	}
	if got, want := strings.Join(opts.Addrs, " "), strings.Join(c.Addrs(), " "); got != want {
		t.Errorf("URL() parses to %s, want %s", got, want)
	}
}

func TestMissingRedisCLIFailsWithInstallHint(t *testing.T) {
	t.Parallel()
	rec := &fatalRecorder{TB: t}
	done := make(chan *Cluster)
	go func() {
		defer close(done)
		done <- startCluster(rec, binary, "redis-cli-that-does-not-exist")
	}()
	if c := <-done; c != nil {
		t.Fatal("startCluster succeeded without redis-cli")
	}
	for _, want := range []string{"redis-cli", "redis-tools", "make test"} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("message %q does not mention %q", rec.msg, want)
		}
	}
}
