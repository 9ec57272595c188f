package app

import (
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/server"
)

// TestFailFastTimeouts: every topology's client gets bounded dials, reads, writes and
// pool waits, the last three the call timeout, and the URL's own values win.
func TestFailFastTimeouts(t *testing.T) {
	t.Parallel()
	type got struct{ dial, read, write, pool time.Duration }
	read := func(o redisOptions) got {
		switch {
		case o.cluster != nil:
			return got{o.cluster.DialTimeout, o.cluster.ReadTimeout, o.cluster.WriteTimeout, o.cluster.PoolTimeout}
		case o.sentinel != nil:
			return got{o.sentinel.DialTimeout, o.sentinel.ReadTimeout, o.sentinel.WriteTimeout, o.sentinel.PoolTimeout}
		default:
			return got{o.single.DialTimeout, o.single.ReadTimeout, o.single.WriteTimeout, o.single.PoolTimeout}
		}
	}
	for _, tc := range []struct {
		url         string
		callTimeout time.Duration
		want        got
	}{
		{"redis://localhost:6379/0", 0, got{defaultDialTimeout, server.DefaultCallTimeout, server.DefaultCallTimeout, server.DefaultCallTimeout}},
		{"unix:///run/redis.sock", 7 * time.Second, got{defaultDialTimeout, 7 * time.Second, 7 * time.Second, 7 * time.Second}},
		{"redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000", 0, got{defaultDialTimeout, server.DefaultCallTimeout, server.DefaultCallTimeout, server.DefaultCallTimeout}},
		{"redis+sentinel://10.0.0.1:26379?master_name=m", 2 * time.Second, got{defaultDialTimeout, 2 * time.Second, 2 * time.Second, 2 * time.Second}},
		{"redis://localhost:6379/0?read_timeout=9s&write_timeout=8s&pool_timeout=6s&dial_timeout=4s", 0, got{4 * time.Second, 9 * time.Second, 8 * time.Second, 6 * time.Second}},
		{"redis+cluster://10.0.0.1:7000?read_timeout=9s&pool_timeout=6s", 0, got{defaultDialTimeout, 9 * time.Second, 9 * time.Second, 6 * time.Second}}, // the write timeout follows the read timeout, as in go-redis
	} {
		o, err := parseRedisURL(tc.url)
		if err != nil {
			t.Fatalf("parseRedisURL(%q): %v", tc.url, err)
		}
		o.callTimeout = tc.callTimeout
		o.newClient().Close()
		if g := read(o); g != tc.want {
			t.Errorf("%s with call timeout %v: dial, read, write, pool = %+v, want %+v", tc.url, tc.callTimeout, g, tc.want)
		}
	}
}
