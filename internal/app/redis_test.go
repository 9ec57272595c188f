package app

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/config"
)

// password is the password in the test URLs: no error may contain it.
const password = "hunter2"

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	type want struct {
		kind     string   // "single", "cluster" or "sentinel"
		addrs    []string // Addr; cluster Addrs; SentinelAddrs
		tls      bool
		password string // of the data nodes
		extra    string // unix: Network; sentinel: MasterName and SentinelPassword
	}
	for _, tc := range []struct {
		url  string
		want want
	}{
		{"redis://localhost:6379/0", want{kind: "single", addrs: []string{"localhost:6379"}}},
		{"rediss://user:" + password + "@redis.example:6380/2", want{kind: "single", addrs: []string{"redis.example:6380"}, tls: true, password: password}},
		{"unix:///run/redis/redis.sock", want{kind: "single", addrs: []string{"/run/redis/redis.sock"}, extra: "unix"}},
		{"redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000",
			want{kind: "cluster", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}}},
		{"rediss+cluster://rally:" + password + "@10.0.0.1:7000?addr=10.0.0.2:7000",
			want{kind: "cluster", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, tls: true, password: password}},
		{"REDIS+Cluster://10.0.0.1:7000/", want{kind: "cluster", addrs: []string{"10.0.0.1:7000"}}},
		{"redis+cluster://10.0.0.1:7000/0?read_timeout=2s", want{kind: "cluster", addrs: []string{"10.0.0.1:7000"}}},
		{"redis+sentinel://10.0.0.1:26379?master_name=mymaster&addr=10.0.0.2:26379",
			want{kind: "sentinel", addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}, extra: "mymaster "}},
		{"rediss+sentinel://:s3nt@10.0.0.1:26379?master_name=rally&password=" + password,
			want{kind: "sentinel", addrs: []string{"10.0.0.1:26379"}, tls: true, password: password, extra: "rally s3nt"}},
	} {
		o, err := parseRedisURL(tc.url)
		if err != nil {
			t.Errorf("parseRedisURL(%q): %v", tc.url, err)
			continue
		}
		var got want
		switch {
		case o.single != nil && o.cluster == nil && o.sentinel == nil:
			got = want{kind: "single", addrs: []string{o.single.Addr}, tls: o.single.TLSConfig != nil, password: o.single.Password}
			if o.single.Network == "unix" {
				got.extra = "unix"
			}
		case o.cluster != nil && o.single == nil && o.sentinel == nil:
			got = want{kind: "cluster", addrs: o.cluster.Addrs, tls: o.cluster.TLSConfig != nil, password: o.cluster.Password}
		case o.sentinel != nil && o.single == nil && o.cluster == nil:
			got = want{kind: "sentinel", addrs: o.sentinel.SentinelAddrs, tls: o.sentinel.TLSConfig != nil, password: o.sentinel.Password,
				extra: o.sentinel.MasterName + " " + o.sentinel.SentinelPassword}
		default:
			t.Errorf("parseRedisURL(%q) = %+v: want exactly one kind of options", tc.url, o)
			continue
		}
		if got.kind != tc.want.kind || !slices.Equal(got.addrs, tc.want.addrs) || got.tls != tc.want.tls ||
			got.password != tc.want.password || got.extra != tc.want.extra {
			t.Errorf("parseRedisURL(%q) = %+v, want %+v", tc.url, got, tc.want)
		}
		if c := o.newClient(); c == nil {
			t.Errorf("parseRedisURL(%q): no client", tc.url)
		} else {
			c.Close()
		}
	}
}

func TestParseRedisURLErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url     string
		mention string // the error must say this
	}{
		{"", "not a URL"},
		{"localhost:6379", "not a URL"},
		{"redis:/" + password + "@localhost", "not a URL"},
		{password + "@localhost:6379", "not a URL"},
		{"http://localhost:6379", `unknown scheme "http"`},
		{"unix+cluster:///run/redis.sock", "unknown scheme"},
		{"redis+sentinel+cluster://:" + password + "@localhost:6379", "unknown scheme"},
		{"redis+clustr://:" + password + "@localhost:7000", `unknown scheme "redis+clustr"`},
		{"redis://:" + password + "@localhost:port", "malformed URL"},
		{"redis://:" + password + "@localhost:6379/x", `invalid database number: "x"`},
		{"redis://:" + password + "@localhost:6379/" + password, "malformed URL"},
		{"redis://:" + password + "@local%zzhost:6379", "malformed URL"},
		{"redis+cluster://:" + password + "@localhost:7000/3", "only database 0"},
		{"redis+cluster://:" + password + "@localhost:7000?addr=nohost", "addr param: nohost"},
		{"redis+cluster://:" + password + "@localhost:7000?colour=pink", "unexpected option: colour"},
		{"rediss+cluster://:" + password + "@localhost:7000?dial_timeout=soon", "dial_timeout"},
		{"redis+sentinel://:" + password + "@localhost:26379", "master_name"},
		{"redis+sentinel://localhost:26379?master_name=m&password=" + password + "&colour=pink", "unexpected option: colour"},
		{"rediss+sentinel://localhost:26379/" + password + "?master_name=m&password=" + password, "malformed URL"},
	} {
		_, err := parseRedisURL(tc.url)
		if err == nil {
			t.Errorf("parseRedisURL(%q) succeeded", tc.url)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, password) {
			t.Errorf("parseRedisURL(%q): the error holds the password: %v", tc.url, err)
		}
		if !strings.HasPrefix(msg, "redis-url: ") || !strings.Contains(msg, tc.mention) {
			t.Errorf("parseRedisURL(%q) = %v, want redis-url: …%s…", tc.url, err, tc.mention)
		}
	}
}

// An unreachable Redis fails the start with an error that names the topology but not
// the URL.
func TestOpenRedisUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct{ url, kind string }{
		{"redis://:" + password + "@127.0.0.1:1/0?max_retries=-1", "cannot reach Redis:"},
		{"redis+cluster://:" + password + "@127.0.0.1:1?max_retries=-1", "cannot reach Redis Cluster"},
		{"redis+sentinel://:" + password + "@127.0.0.1:1?master_name=m&password=" + password + "&max_retries=-1", "cannot reach Redis Sentinel"},
	} {
		c, err := openRedis(ctx, config.Config{RedisURL: tc.url})
		if err == nil {
			c.Close()
			t.Errorf("openRedis(%q) succeeded", tc.url)
			continue
		}
		if strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), tc.kind) {
			t.Errorf("openRedis(%q) = %v, want %q and no password", tc.url, err, tc.kind)
		}
	}
}
