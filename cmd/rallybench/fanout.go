package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// fanout measures item 5. The watchers run in a child process (this program with
// -watch-child), so the heap and goroutine deltas taken in this process are rallyd's
// alone, without the clients' cost. They watch as organisers (the admin token): since
// issue 13 only the organisers' history carries every RSVP live, as every watcher's did
// before; the public one gets attendance coalesced over a window of seconds, which would
// time the window, not the fan-out (the RSVP rush, step 7, measures that history).
func fanout(ctx context.Context, e *env, o options, r *report) error {
	names, err := e.createEvents(ctx, 2_000_000, 1, 0)
	if err != nil {
		return err
	}
	event := names[0]
	clientsBefore, err := e.connectedClients(ctx)
	if err != nil {
		return err
	}
	pubsubBefore, err := e.pubsubClients(ctx)
	if err != nil {
		return err
	}
	heapBefore, goBefore := settle()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	conns := max(10, (o.watchers+499)/500) // rallyd allows 1000 streams a connection
	cmd := exec.CommandContext(ctx, exe, "-watch-child", "-watch-addr", e.app.GRPCAddr(), "-watch-event", event,
		"-watchers", strconv.Itoa(o.watchers), "-concurrency", strconv.Itoa(conns), "-watch-admin")
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
	if !lines.Scan() || lines.Text() != "ready" {
		return fmt.Errorf("watcher process: %q, want ready: %v", lines.Text(), lines.Err())
	}
	r.Seconds["watchers_connect"] = time.Since(t0).Seconds()
	heapAfter, goAfter := settle()
	clientsAfter, err := e.connectedClients(ctx)
	if err != nil {
		return err
	}
	pubsubAfter, err := e.pubsubClients(ctx)
	if err != nil {
		return err
	}

	var lats []time.Duration
	stopProfile, err := startCPUProfile(o.fanoutProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	for k := 1; k <= o.watchRounds; k++ {
		sent := time.Now()
		if _, err := e.rsvps(k).CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: event, Rsvp: &rallyv1.Rsvp{}}); err != nil {
			return fmt.Errorf("CreateRsvp: %w", err)
		}
		if !lines.Scan() {
			return fmt.Errorf("watcher process ended: %v", lines.Err())
		}
		f := strings.Fields(lines.Text()) // seen GOING UNIXNANO
		if len(f) != 3 || f[0] != "seen" || f[1] != strconv.Itoa(k) {
			return fmt.Errorf("watcher process: %q, want seen %d", lines.Text(), k)
		}
		last, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return err
		}
		lats = append(lats, time.Unix(0, last).Sub(sent))
	}
	p50, p99 := quantile(lats, 0.5), quantile(lats, 0.99)
	n := float64(o.watchers)
	heapPer := float64(int64(heapAfter)-int64(heapBefore)) / n
	r.add(newFigure("5a fan-out p99, RSVP reply to all watchers (ms)", ms(p99), 200, true,
		fmt.Sprintf("p50 %.2fms; %d organisers' watchers on %d connections, %d RSVPs", ms(p50), o.watchers, conns, o.watchRounds)))
	r.add(newFigure("5b heap per watcher (KB)", heapPer/1024, 20, true,
		fmt.Sprintf("HeapInuse %d → %d, rallyd only: the watchers run in a child process", heapBefore, heapAfter)))
	r.add(newFigure("5c goroutines per watcher", float64(goAfter-goBefore)/n, 3, true,
		fmt.Sprintf("%d → %d, rallyd only", goBefore, goAfter)))
	// The command pool is bounded (go-redis PoolSize) whoever uses it; what watchers
	// could add is subscriptions, so those are the figure.
	r.add(newFigure("5d Redis pub/sub connections added by the watchers", float64(pubsubAfter-pubsubBefore), 0, true,
		fmt.Sprintf("%d before, %d with %d watchers; connected_clients %d → %d", pubsubBefore, pubsubAfter, o.watchers, clientsBefore, clientsAfter)))
	r.Loads["fanout"] = map[string]any{
		"watchers": o.watchers, "audience": "organisers", "conns": conns, "p50_ms": ms(p50), "p99_ms": ms(p99),
		"heap_per_watcher_bytes":  float64(int64(heapAfter)-int64(heapBefore)) / n,
		"goroutines_per_watcher":  float64(goAfter-goBefore) / n,
		"redis_clients_before":    clientsBefore,
		"redis_clients_after":     clientsAfter,
		"connect_seconds":         r.Seconds["watchers_connect"],
		"latencies_ms_per_create": durationsMs(lats),
	}
	return nil
}

func durationsMs(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = ms(v)
	}
	return out
}

// settle collects garbage and returns HeapInuse and the number of goroutines.
func settle() (uint64, int) {
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, runtime.NumGoroutine()
}

// watchChild is the child process: o.watchers WatchEvent streams on o.watchEvent over
// o.concurrency connections (as the admin with -watch-admin). It prints "ready" once
// every stream has its snapshot, then "seen G T" when every watcher has seen attendance G
// (T: when the last one did, Unix nanoseconds). It exits when its standard input closes.
func watchChild(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var conns []*grpc.ClientConn
	for range o.concurrency {
		c, err := grpc.NewClient(o.watchAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer c.Close()
		conns = append(conns, c)
	}
	wctx := ctx
	if o.watchAdmin {
		wctx = admin(ctx)
	}
	var mu sync.Mutex
	seen := map[int32]int{}
	lastAt := map[int32]int64{}
	out := bufio.NewWriter(os.Stdout)
	var ready sync.WaitGroup
	errs := make(chan error, o.watchers)
	for i := range o.watchers {
		ready.Add(1)
		go func() {
			s, err := rallyv1.NewEventServiceClient(conns[i%len(conns)]).WatchEvent(wctx, &rallyv1.WatchEventRequest{Name: o.watchEvent})
			if err == nil {
				_, err = s.Recv()
			}
			ready.Done()
			if err != nil {
				errs <- err
				return
			}
			for {
				c, err := s.Recv()
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				now := time.Now().UnixNano()
				if c.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE {
					continue
				}
				g := c.GetEvent().GetAttendance().GetGoing()
				mu.Lock()
				seen[g]++
				lastAt[g] = max(lastAt[g], now)
				if seen[g] == o.watchers {
					fmt.Fprintf(out, "seen %d %d\n", g, lastAt[g])
					out.Flush()
				}
				mu.Unlock()
			}
		}()
	}
	ready.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("watch: %w", err)
	default:
	}
	mu.Lock()
	fmt.Fprintln(out, "ready")
	out.Flush()
	mu.Unlock()
	go func() {
		err := <-errs
		fmt.Fprintln(os.Stderr, "rallybench watcher:", err)
		os.Exit(1)
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel() // before the connections close, so that no stream reports an error
	return nil
}
