package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/config"
)

const adminToken = "rly_admin_P-mkmtKODN7FAHDsE-dwiPygn1j0REQX5OmHrX7mrMA"

// env is a private redis-server, an in-process rallyd on it, and clients of both.
type env struct {
	dir   string
	redis *exec.Cmd
	rdb   *goredis.Client
	app   *app.App
	conns []*grpc.ClientConn
	http  *http.Client
	base  string // http://host:port
	// campaign holds the events that createEvents creates.
	campaign string
	// window is rallyd's coalescing window of public attendance changes.
	window time.Duration
	// args are rallyd's flags, for a replica configured otherwise (startReplica).
	args []string
}

// rallyd is a running rallyd and callers connected to it: the env's own, or a replica.
type rallyd interface {
	grpcAddr() string
	rsvps(i int) rallyv1.RsvpServiceClient
}

func (e *env) grpcAddr() string { return e.app.GRPCAddr() }

func (e *env) conn(i int) *grpc.ClientConn { return e.conns[i%len(e.conns)] }
func (e *env) events(i int) rallyv1.EventServiceClient {
	return rallyv1.NewEventServiceClient(e.conn(i))
}
func (e *env) rsvps(i int) rallyv1.RsvpServiceClient { return rallyv1.NewRsvpServiceClient(e.conn(i)) }
func (e *env) health(i int) healthpb.HealthClient    { return healthpb.NewHealthClient(e.conn(i)) }

func admin(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken)
}

func startEnv(ctx context.Context, o options) (*env, error) {
	dir, err := os.MkdirTemp("", "rallybench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir}
	sock := filepath.Join(dir, "redis.sock")
	e.redis, err = o.machine.redisCommand(o.redisServer, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir, "--maxclients", "20000")
	if err != nil {
		e.close()
		return nil, err
	}
	e.redis.Stdout, e.redis.Stderr = io.Discard, os.Stderr
	if err := e.redis.Start(); err != nil {
		e.close()
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	e.rdb = goredis.NewClient(&goredis.Options{Network: "unix", Addr: sock})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := e.rdb.Ping(ctx).Err(); err == nil {
			break
		} else if time.Now().After(deadline) {
			e.close()
			return nil, fmt.Errorf("redis-server did not answer: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Watch streams are capped per caller: each measurement's watchers are one caller (the
	// admin, or anonymous from one address).
	args := []string{
		"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--metrics-addr=", "--admin-token=" + adminToken,
		"--redis-url=unix://" + sock, "--redis-prefix=rally:", "--secrets=" + apptest.Secrets,
		// The load comes from one address: every per-caller limit is off, so that the
		// figures measure rallyd, not its abuse limits.
		"--rate-limits=read=off;write=off;auth=off;rally.v1.RsvpService/CreateRsvp=off;rally.v1.TaskService/ClaimTask=off;rally.v1.OrganiserService/CreateApiToken=off",
		"--max-streams-per-addr=0", "--max-conns-per-addr=0",
		"--max-watches=" + strconv.Itoa(2*max(o.watchers, 2*o.rushWatchers, o.conn.watchers)+100),
	}
	if o.window > 0 {
		args = append(args, "--attendance-window="+o.window.String())
	}
	e.args = args
	cfg, err := config.Parse(args)
	if err != nil {
		e.close()
		return nil, err
	}
	e.window = cfg.AttendanceWindow
	if e.app, e.conns, err = startRallyd(ctx, cfg, o); err != nil {
		e.close()
		return nil, err
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * o.concurrency,
		MaxIdleConnsPerHost: 4 * o.concurrency,
		IdleConnTimeout:     90 * time.Second,
	}
	e.http = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	e.base = "http://" + e.app.HTTPAddr()
	return e, nil
}

// startRallyd starts a rallyd in this process and the load's gRPC connections to it.
func startRallyd(ctx context.Context, cfg config.Config, o options) (*app.App, []*grpc.ClientConn, error) {
	a, err := app.Start(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, nil, err
	}
	n := o.grpcConns
	if n <= 0 {
		n = o.concurrency
	}
	conns := make([]*grpc.ClientConn, 0, n)
	for range n {
		c, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeRallyd(a, conns)
			return nil, nil, err
		}
		conns = append(conns, c)
	}
	return a, conns, nil
}

func closeRallyd(a *app.App, conns []*grpc.ClientConn) {
	for _, c := range conns {
		c.Close()
	}
	if a != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := a.Shutdown(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "rallybench: shutdown:", err)
		}
		cancel()
	}
}

// replica is a second rallyd on the env's Redis, with flags of its own after the env's,
// and connections to it: for a measurement that compares two configurations in one run.
type replica struct {
	app   *app.App
	conns []*grpc.ClientConn
}

func (e *env) startReplica(ctx context.Context, o options, flags ...string) (*replica, error) {
	cfg, err := config.Parse(append(slices.Clone(e.args), flags...))
	if err != nil {
		return nil, err
	}
	a, conns, err := startRallyd(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	return &replica{a, conns}, nil
}

func (r *replica) grpcAddr() string { return r.app.GRPCAddr() }
func (r *replica) rsvps(i int) rallyv1.RsvpServiceClient {
	return rallyv1.NewRsvpServiceClient(r.conns[i%len(r.conns)])
}
func (r *replica) close() { closeRallyd(r.app, r.conns) }

func (e *env) close() {
	closeRallyd(e.app, e.conns)
	if e.rdb != nil {
		e.rdb.Close()
	}
	if e.redis != nil && e.redis.Process != nil {
		_ = e.redis.Process.Kill()
		_ = e.redis.Wait()
	}
	os.RemoveAll(e.dir)
}

// info reads one section of INFO as a map of its fields.
func (e *env) info(ctx context.Context, section string) (map[string]string, error) {
	s, err := e.rdb.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok {
			m[k] = v
		}
	}
	return m, nil
}

func (e *env) connectedClients(ctx context.Context) (int, error) {
	m, err := e.info(ctx, "clients")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(m["connected_clients"])
	if err != nil {
		return 0, errors.New("INFO clients: no connected_clients")
	}
	return n, nil
}

// pubsubClients counts the connections in pub/sub mode (CLIENT LIST TYPE pubsub).
func (e *env) pubsubClients(ctx context.Context) (int, error) {
	s, err := e.rdb.ClientList(ctx).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(s, "\n") {
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "sub="); ok && v != "0" {
				n++
			}
		}
	}
	return n, nil
}
