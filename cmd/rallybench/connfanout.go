package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// connOptions are the sizes of the fan-out over real connections (step 8, issue 19).
type connOptions struct {
	watchers    int     // watchers, each on a connection of its own
	rest        float64 // share of them that watch over REST (HTTP/1.1, chunked)
	grpcClient  string  // the gRPC watchers' client: lean, grpc-go or grpc-go-bdp
	rounds      int     // announcements timed to all watchers
	profile     string  // pprof CPU profile of the rounds
	heapProfile string  // pprof heap profile of rallyd with the watchers connected

	child bool   // set in the watchers' process
	http  string // the child's REST base URL
}

func (c *connOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.watchers, "conn-watchers", 0, "fan-out over real connections: watchers, each on its own connection (default 10,000, smoke 300)")
	fs.Float64Var(&c.rest, "conn-rest", 0.5, "fan-out over real connections: share of the watchers that watch over REST (HTTP/1.1 streaming), the rest over gRPC")
	fs.StringVar(&c.grpcClient, "conn-grpc-client", grpcClientLean, "fan-out over real connections: the gRPC watchers' client: "+grpcClientLean+" (HTTP/2 on one goroutine, fixed 64 KiB windows as Android's grpc-okhttp keeps), "+grpcClientGo+" (grpc-go with those windows) or "+grpcClientGoBDP+" (grpc-go's defaults: a PING after each message, which rallyd answers)")
	fs.IntVar(&c.rounds, "conn-rounds", 0, "fan-out over real connections: announcements timed to all watchers (default 20, smoke 10)")
	fs.StringVar(&c.profile, "connprofile", "", "write a pprof CPU profile of the rounds of the fan-out over real connections to this file")
	fs.StringVar(&c.heapProfile, "connheapprofile", "", "write a pprof heap profile of this process (rallyd) with the fan-out's watchers connected to this file")
	fs.BoolVar(&c.child, "conn-child", false, "internal: run the watchers of the fan-out over real connections")
	fs.StringVar(&c.http, "conn-http", "", "internal: REST base URL for -conn-child")
}

func (c *connOptions) defaults(smoke bool) {
	if c.watchers == 0 {
		c.watchers = 10000
		if smoke {
			c.watchers = 300
		}
	}
	if c.rounds == 0 {
		c.rounds = 20
		if smoke {
			c.rounds = 10
		}
	}
	c.rounds = min(c.rounds, maxConnRounds)
	c.rest = min(max(c.rest, 0), 1)
}

// The clients of the fan-out's gRPC watchers (-conn-grpc-client).
const (
	grpcClientLean  = "lean"
	grpcClientGo    = "grpc-go"
	grpcClientGoBDP = "grpc-go-bdp"
)

// grpcWatcherFunc runs gRPC watcher i of event at addr (see leanWatcher).
type grpcWatcherFunc func(ctx context.Context, addr, event string, i int, ready func(), seen func(k, i int, at int64)) error

// grpcWatch returns the watcher of the gRPC client -conn-grpc-client names.
func (c *connOptions) grpcWatch() (grpcWatcherFunc, error) {
	switch c.grpcClient {
	case grpcClientLean:
		return leanWatcher, nil
	case grpcClientGo, grpcClientGoBDP:
		bdp := c.grpcClient == grpcClientGoBDP
		return func(ctx context.Context, addr, event string, i int, ready func(), seen func(k, i int, at int64)) error {
			return grpcWatcher(ctx, addr, event, bdp, i, ready, seen)
		}, nil
	}
	return nil, fmt.Errorf("-conn-grpc-client %q: want %s, %s or %s", c.grpcClient, grpcClientLean, grpcClientGo, grpcClientGoBDP)
}

// http2DefaultWindow is HTTP/2's initial flow-control window (RFC 9113, 6.9.2); grpc-go
// turns its bandwidth estimation off for any window set this large or larger.
const http2DefaultWindow = 65535

// maxConnRounds caps -conn-rounds: the watchers' process keeps a time per watcher and round.
const maxConnRounds = 100

// connFanout measures target 4 of issue 19: the watchers of one event, each on a
// connection of its own as a real audience of phones and browsers is, some over gRPC
// (WatchEvent) and some over REST (GET /v1/events/{id}:watch, newline-delimited JSON over
// HTTP/1.1 chunked, as the web client reads it with fetch). They are anonymous: the
// public history, which carries announcements live (attendance is coalesced over a
// window for them; step 7 measures that). Each round posts a public announcement and
// times it until the last watcher has it.
//
// The watchers run in a child process (-conn-child) so that this process's memory and
// CPU are rallyd's (and the harness's, idle meanwhile). Memory per watcher is the
// growth of Go's heap and goroutine stacks in use (HeapInuse + StackInuse) from before
// the watchers connect to after, divided by the watchers: everything rallyd holds for
// a watcher, its connection's buffers and goroutines included; the growth of the
// resident set (RSS) is reported beside it. Neither counts the kernel's socket buffers.
func connFanout(ctx context.Context, e *env, o options, r *report) error {
	c := o.conn
	if _, err := c.grpcWatch(); err != nil {
		return err
	}
	if err := raiseNoFile(c.watchers + 1000); err != nil {
		return err
	}
	names, err := e.createEvents(ctx, 5_000_000, 1, 0)
	if err != nil {
		return err
	}
	event := names[0]
	if c.heapProfile != "" {
		runtime.MemProfileRate = 1 // every allocation of the watchers, for a breakdown per watcher
	}
	before := memNow()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, "-conn-child", "-watch-addr", e.app.GRPCAddr(), "-conn-http", e.base,
		"-watch-event", event, "-conn-watchers", strconv.Itoa(c.watchers), "-conn-rest", strconv.FormatFloat(c.rest, 'f', -1, 64),
		"-conn-grpc-client", c.grpcClient)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "ready ") {
		return fmt.Errorf("watcher process: %q, want ready: %v", lines.Text(), lines.Err())
	}
	var nGRPC, nREST int
	if _, err := fmt.Sscanf(lines.Text(), "ready %d %d", &nGRPC, &nREST); err != nil {
		return fmt.Errorf("watcher process: %q: %w", lines.Text(), err)
	}
	connect := time.Since(t0)
	after := memNow()
	if c.heapProfile != "" {
		if err := writeHeapProfile(c.heapProfile); err != nil {
			return err
		}
	}

	stopProfile, err := startCPUProfile(c.profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	var all, firsts, p50s, p99s []time.Duration
	cpu0, childCPU0 := processCPU(), childCPU(cmd.Process.Pid)
	for k := 1; k <= c.rounds; k++ {
		time.Sleep(100 * time.Millisecond) // the rounds do not overlap: each is timed alone
		sent := time.Now()
		_, err := e.events(k).PostAnnouncement(admin(ctx), &rallyv1.PostAnnouncementRequest{Parent: event,
			Announcement: &rallyv1.Announcement{Text: announcementText(k), Audience: rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC}})
		if err != nil {
			return fmt.Errorf("PostAnnouncement: %w", err)
		}
		if !lines.Scan() {
			return fmt.Errorf("watcher process ended: %v", lines.Err())
		}
		var got int
		var first, p50, p99, last int64
		if _, err := fmt.Sscanf(lines.Text(), "seen %d %d %d %d %d", &got, &first, &p50, &p99, &last); err != nil || got != k {
			return fmt.Errorf("watcher process: %q, want seen %d (%v)", lines.Text(), k, err)
		}
		at := func(ns int64) time.Duration { return time.Unix(0, ns).Sub(sent) }
		all, firsts, p50s, p99s = append(all, at(last)), append(firsts, at(first)), append(p50s, at(p50)), append(p99s, at(p99))
	}
	cpu, watchersCPU := processCPU()-cpu0, childCPU(cmd.Process.Pid)-childCPU0
	stopProfile()

	n := float64(c.watchers)
	heapStack := float64(int64(after.heap+after.stack)-int64(before.heap+before.stack)) / n
	rss := float64(int64(after.rss)-int64(before.rss)) / n
	goroutines := float64(after.goroutines-before.goroutines) / n
	p50, p99 := quantile(all, 0.5), quantile(all, 0.99)
	mix := fmt.Sprintf("%d watchers, each on its own connection (%d gRPC, client %s; %d REST), anonymous", c.watchers, nGRPC, c.grpcClient, nREST)
	r.add(newFigure("8a conn fan-out p99, announcement to all watchers (ms)", ms(p99), 250, true,
		fmt.Sprintf("p50 %.2fms; %s; %d announcements", ms(p50), mix, c.rounds)))
	r.add(newFigure("8b conn fan-out memory per watcher incl. its connection (KB)", heapStack/1024, 30, true,
		fmt.Sprintf("rallyd's Go heap+stacks in use %d → %d (heap %.1f KB, stacks %.1f KB per watcher); RSS %+.1f KB per watcher; %.1f goroutines per watcher, stacks starting at %d B",
			before.heap+before.stack, after.heap+after.stack, float64(int64(after.heap)-int64(before.heap))/n/1024, float64(int64(after.stack)-int64(before.stack))/n/1024, rss/1024, goroutines, after.stackStart)))
	r.note("8 conn fan-out", "%s; connected in %.1fs; per round, median over rounds: first watcher %.1fms, median watcher %.1fms, p99 watcher %.1fms, last %.1fms; rallyd CPU %.1fµs per delivery (with the announcement itself), the watchers' process %.1fµs (sharing the machine's cores)",
		mix, connect.Seconds(), ms(quantile(firsts, 0.5)), ms(quantile(p50s, 0.5)), ms(quantile(p99s, 0.5)), ms(p50), cpu.Seconds()*1e6/(n*float64(c.rounds)),
		watchersCPU.Seconds()*1e6/(n*float64(c.rounds)))
	r.Loads["conn_fanout"] = map[string]any{
		"watchers": c.watchers, "grpc_watchers": nGRPC, "grpc_client": c.grpcClient, "rest_watchers": nREST, "audience": "public", "rounds": c.rounds,
		"p50_ms": ms(p50), "p99_ms": ms(p99),
		"heap_stack_per_watcher_bytes": heapStack,
		"rss_per_watcher_bytes":        rss,
		"heap_per_watcher_bytes":       float64(int64(after.heap)-int64(before.heap)) / n,
		"stack_per_watcher_bytes":      float64(int64(after.stack)-int64(before.stack)) / n,
		"goroutines_per_watcher":       goroutines,
		"go_cpu_us_per_delivery":       cpu.Seconds() * 1e6 / (n * float64(c.rounds)),
		"watchers_cpu_us_per_delivery": watchersCPU.Seconds() * 1e6 / (n * float64(c.rounds)),
		"connect_seconds":              connect.Seconds(),
		"num_cpu":                      runtime.NumCPU(),
		"gomaxprocs":                   runtime.GOMAXPROCS(0),
		"latencies_ms_per_round":       durationsMs(all),
		"first_ms_per_round":           durationsMs(firsts),
		"p50_watcher_ms_per_round":     durationsMs(p50s),
		"p99_watcher_ms_per_round":     durationsMs(p99s),
	}
	return nil
}

func announcementText(k int) string { return "conn-fanout " + strconv.Itoa(k) }

// memStats is what this process holds, after collecting garbage.
type memStats struct {
	heap, stack, rss uint64
	goroutines       int
	stackStart       uint64 // the size new goroutines' stacks start at (Go adapts it to the average)
}

func memNow() memStats {
	time.Sleep(500 * time.Millisecond)
	// A few collections: each halves the goroutine stacks that use under a quarter of
	// theirs, and pooled buffers (sync.Pool) survive one; a server running for a while
	// has done many. The last returns what it can to the OS, so that RSS is comparable.
	for range 3 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	sample := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(sample)
	return memStats{heap: m.HeapInuse, stack: m.StackInuse, rss: rssBytes(), goroutines: runtime.NumGoroutine(), stackStart: sample[0].Value.Uint64()}
}

// rssBytes is this process's resident set (/proc/self/statm), 0 if unknown.
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return err
	}
	g, err := os.Create(path + ".goroutines.txt") // where the stacks are (debug=2: every goroutine)
	if err != nil {
		return err
	}
	defer g.Close()
	return pprof.Lookup("goroutine").WriteTo(g, 2)
}

// raiseNoFile raises this process's limit of open files to at least need: every watcher
// holds a socket in the watchers' process and one in rallyd's. Go raises the soft limit
// to the hard one at start; raising the hard limit needs privileges (CAP_SYS_RESOURCE),
// so without them the hard limit must already be high enough (ulimit -Hn; see
// docs/performance.md).
func raiseNoFile(need int) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= uint64(need) {
		return nil
	}
	l.Cur = max(l.Cur, uint64(need))
	l.Max = max(l.Max, l.Cur)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE: %d watchers need %d open files and the limit cannot be raised (%v); raise ulimit -Hn", need-1000, need, err)
	}
	return nil
}

// connChild is the watchers' process: o.conn.watchers watchers of o.watchEvent, each on a
// connection of its own, the share o.conn.rest over REST and the rest over gRPC. It prints
// "ready G R" (G gRPC and R REST watchers) once every watcher has its snapshot, then, for
// each announcement "conn-fanout K" once every watcher has it, "seen K FIRST P50 P99
// LAST": when the first watcher, the median one, the 99th percentile and the last one
// had it (Unix nanoseconds). It exits when its standard input closes.
func connChild(o options) error {
	c := o.conn
	if err := raiseNoFile(c.watchers + 1000); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nREST := int(float64(c.watchers)*c.rest + 0.5)
	grpcWatch, err := c.grpcWatch()
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex

	// rounds[k] are the times watcher i had announcement k; count[k] how many had it.
	// Their slots are allocated up front, so that seen allocates nothing while a round is
	// timed.
	rounds := make([][]atomic.Int64, maxConnRounds+1)
	for k := 1; k <= maxConnRounds; k++ {
		rounds[k] = make([]atomic.Int64, c.watchers)
	}
	var count [maxConnRounds + 1]atomic.Int64
	seen := func(k, i int, at int64) {
		if k < 1 || k > maxConnRounds {
			return
		}
		if rounds[k][i].Swap(at) != 0 {
			return // a duplicate (a resumed stream): counted once
		}
		if count[k].Add(1) != int64(c.watchers) {
			return
		}
		ts := make([]int64, c.watchers)
		for j := range ts {
			ts[j] = rounds[k][j].Load()
		}
		slices.Sort(ts)
		q := func(f float64) int64 { return ts[int(f*float64(len(ts)-1))] }
		outMu.Lock()
		fmt.Fprintf(out, "seen %d %d %d %d %d\n", k, ts[0], q(0.5), q(0.99), ts[len(ts)-1])
		out.Flush()
		outMu.Unlock()
	}
	tr := &http.Transport{
		DialContext:        (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:       -1,   // a watch holds its connection; nothing returns to a pool
		DisableCompression: true, // restWatcher asks as browsers do, and reads what comes
		ReadBufferSize:     4 << 10,
		WriteBufferSize:    4 << 10,
	}
	defer tr.CloseIdleConnections()
	errs := make(chan error, c.watchers)
	var ready sync.WaitGroup
	// Connections are opened a few at a time: a burst of thousands of SYNs overflows the
	// listener's backlog and costs seconds of retransmission.
	gate := make(chan struct{}, 64)
	for i := range c.watchers {
		ready.Add(1)
		gate <- struct{}{}
		once := sync.OnceFunc(func() { <-gate; ready.Done() })
		if i < nREST {
			go func() { errs <- restWatcher(ctx, tr, c.http, o.watchEvent, i, once, seen) }()
		} else {
			go func() { errs <- grpcWatch(ctx, o.watchAddr, o.watchEvent, i, once, seen) }()
		}
	}
	ready.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("watch: %w", err)
	default:
	}
	outMu.Lock()
	fmt.Fprintf(out, "ready %d %d\n", c.watchers-nREST, nREST)
	out.Flush()
	outMu.Unlock()
	go func() {
		err := <-errs
		if ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "rallybench conn watcher:", err)
			os.Exit(1)
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	return nil
}

// roundOf returns K of an announcement "conn-fanout K", or 0.
func roundOf(text []byte) int {
	const prefix = "conn-fanout "
	i := bytes.Index(text, []byte(prefix))
	if i < 0 {
		return 0
	}
	k := 0
	for _, b := range text[i+len(prefix):] {
		if b < '0' || b > '9' {
			break
		}
		k = 10*k + int(b-'0')
	}
	return k
}

// grpcWatcher watches over a gRPC connection of its own, with small buffers: this is the
// client's side, whose cost only the watchers' process bears.
//
// Unless bdp, its windows are fixed at HTTP/2's default, 64 KiB, as the gRPC stacks of
// phones keep them: Android's grpc-okhttp has no bandwidth estimation
// (OkHttpChannelBuilder.DEFAULT_FLOW_CONTROL_WINDOW, 65535; grpc-java#8226), and
// grpc-java's Netty transport pings only after a window's worth of data (grpc-java#9650).
// grpc-go's client, by default, follows every message that arrives alone with a PING,
// which rallyd reads and answers: a write and a read more per delivery on each side
// (docs/performance.md).
func grpcWatcher(ctx context.Context, addr, event string, bdp bool, i int, ready func(), seen func(k, i int, at int64)) error {
	defer ready()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithReadBufferSize(4 << 10), grpc.WithWriteBufferSize(4 << 10), grpc.WithSharedWriteBuffer(true)}
	if !bdp {
		opts = append(opts, grpc.WithInitialWindowSize(http2DefaultWindow), grpc.WithInitialConnWindowSize(http2DefaultWindow))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	s, err := rallyv1.NewEventServiceClient(conn).WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: event})
	if err != nil {
		return err
	}
	if _, err := s.Recv(); err != nil {
		return err
	}
	ready()
	for {
		ch, err := s.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		at := time.Now().UnixNano()
		if ch.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT {
			seen(roundOf([]byte(ch.GetAnnouncement().GetText())), i, at)
		}
	}
}

// restWatcher watches as the web client does: GET …:watch, one JSON object a line, on an
// HTTP/1.1 connection of its own (a streaming response holds its connection).
func restWatcher(ctx context.Context, tr *http.Transport, base, event string, i int, ready func(), seen func(k, i int, at int64)) error {
	defer ready()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/"+event+":watch", nil)
	if err != nil {
		return err
	}
	// What fetch sends in every browser: a stream compressed in answer would cost rallyd
	// a compressor for each watcher (internal/gateway/compress.go).
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	res, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
		return fmt.Errorf("GET %s:watch: %s %s", event, res.Status, b)
	}
	if ce := res.Header.Get("Content-Encoding"); ce != "" {
		return fmt.Errorf("GET %s:watch: a stream compressed with %s", event, ce)
	}
	rd := bufio.NewReaderSize(res.Body, 8<<10)
	first := true
	for {
		line, err := rd.ReadSlice('\n')
		if err == bufio.ErrBufferFull { // a long snapshot: the rest of the line follows
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("GET %s:watch: %w", event, err)
		}
		at := time.Now().UnixNano()
		if bytes.HasPrefix(line, []byte(`{"error"`)) {
			return fmt.Errorf("GET %s:watch: %s", event, bytes.TrimSpace(line))
		}
		if first {
			first = false
			ready()
			continue
		}
		if bytes.Contains(line, []byte(`"CHANGE_KIND_ANNOUNCEMENT"`)) {
			seen(roundOf(line), i, at)
		}
	}
}
