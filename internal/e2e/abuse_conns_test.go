package e2e_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/ratelimit"
)

// The shipped timeouts of the HTTP port (internal/app/limits.go), and how late on a
// loaded machine a connection may be closed after its timeout.
const (
	shippedBodyTimeout   = 30 * time.Second
	shippedHeaderTimeout = 10 * time.Second
	closeSlack           = 10 * time.Second
)

// TestAbuseStalledBodies replays the slow client of issue 14: 100 requests that announce
// a 200,000-byte body and send one byte. Before, none was ever answered or closed (after
// 40 s, 100 of 100 connections were still open). Now each is cut off at the body timeout
// and its connection closed, as are 10 whose headers stall, while an honest caller at
// another address is answered throughout.
func TestAbuseStalledBodies(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startDefaults(t, redisURL(t))
			w := newAbuseWorld(t, grpcFrom(t, a, honestIP))
			d := dialerFrom(t, attackerIP)

			type stalled struct {
				c      net.Conn
				within time.Duration
			}
			var conns []stalled
			start := time.Now()
			for i := range 110 {
				c, err := d.Dial("tcp", a.HTTPAddr())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				req, within := "POST /v1/"+w.event+"/rsvps HTTP/1.1\r\nHost: rally\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{", shippedBodyTimeout
				if i >= 100 {
					req, within = "GET /v1/"+w.event+" HTTP/1.1\r\nHost: rally\r\nX-Slow: ", shippedHeaderTimeout
				}
				if _, err := io.WriteString(c, req); err != nil {
					t.Fatal(err)
				}
				conns = append(conns, stalled{c, within})
			}

			// An honest caller at another address, twice a second while they stall.
			stop := make(chan struct{})
			honestDone := make(chan [2]int)
			go func() {
				web := httpFrom(t, honestIP)
				answered, failed := 0, 0
				for {
					select {
					case <-stop:
						honestDone <- [2]int{answered, failed}
						return
					case <-time.After(500 * time.Millisecond):
					}
					resp, err := web.Get("http://" + a.HTTPAddr() + "/v1/" + w.event)
					if err != nil {
						t.Errorf("honest call: %v", err)
						failed++
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					// 503: the store did not answer within the call timeout, which an
					// overloaded test machine may cause; an answer all the same.
					if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
						t.Errorf("honest call: HTTP %d", resp.StatusCode)
						failed++
						continue
					}
					answered++
				}
			}()

			// Every stalled connection is closed by the server within its timeout and the
			// slack: reading it ends (after an answer, or none) rather than timing out.
			var wg sync.WaitGroup
			var mu sync.Mutex
			open := 0
			var latest time.Duration
			for _, s := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = s.c.SetReadDeadline(start.Add(s.within + closeSlack))
					_, err := io.Copy(io.Discard, bufio.NewReader(s.c))
					mu.Lock()
					defer mu.Unlock()
					if errors.Is(err, os.ErrDeadlineExceeded) {
						open++
					}
					latest = max(latest, time.Since(start))
				}()
			}
			wg.Wait()
			close(stop)
			honest := <-honestDone
			t.Logf("stalled connections: %d of %d still open; the last closed after %v; honest calls answered %d, failed %d",
				open, len(conns), latest.Round(100*time.Millisecond), honest[0], honest[1])
			if open > 0 {
				t.Errorf("%d of %d stalled connections were still open after their timeout and %v", open, len(conns), closeSlack)
			}
			if honest[0] < 20 || honest[1] > 0 {
				t.Errorf("honest calls during the attack: %d answered, %d failed", honest[0], honest[1])
			}
		})
	}
}

// TestAbuseStreamFlood replays the stream flood of issue 14 (10,000 streams from one
// client grew rallyd from 21 to about 10,050 goroutines) at a size a test can afford:
// from one address, hundreds of anonymous WatchEvent, health Watch and reflection
// streams, 160 watches of 8 organiser accounts, and 200 bare connections to each port.
// The per-caller caps and rate limits refuse most; the cap on calls per address refuses
// the rest, and the cap on connections per address closes the surplus connections; every
// refusal is RESOURCE_EXHAUSTED. rallyd's goroutines stay bounded by the caps, honest
// callers at another address are answered throughout, and the goroutines go back when
// the attacker leaves.
//
// Not parallel: it counts the process's server goroutines.
func TestAbuseStreamFlood(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startDefaults(t, redisURL(t))
			honest := grpcFrom(t, a, honestIP)
			w := newAbuseWorld(t, honest)
			var orgs []string
			for i := range 8 {
				orgs = append(orgs, newOrganiser(t, honest, fmt.Sprintf("flooder-%d", i)))
			}
			baseline := serverGoroutines()

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var conns []*grpc.ClientConn
			for range 8 {
				conns = append(conns, grpcFrom(t, a, attackerIP))
			}
			type attempt struct {
				kind string
				open func(ctx context.Context, conn *grpc.ClientConn) error // opens a stream and waits for its first message
			}
			watch := func(tok string) func(ctx context.Context, conn *grpc.ClientConn) error {
				return func(ctx context.Context, conn *grpc.ClientConn) error {
					s, err := rallyv1.NewEventServiceClient(conn).WatchEvent(withToken(ctx, tok), &rallyv1.WatchEventRequest{Name: w.event})
					if err == nil {
						_, err = s.Recv()
					}
					return err
				}
			}
			var attempts []attempt
			for range 200 {
				attempts = append(attempts,
					attempt{"WatchEvent", watch("")},
					attempt{"Health/Watch", func(ctx context.Context, conn *grpc.ClientConn) error {
						s, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
						if err == nil {
							_, err = s.Recv()
						}
						return err
					}},
					attempt{"reflection", func(ctx context.Context, conn *grpc.ClientConn) error {
						s, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
						if err == nil {
							err = s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
						}
						if err == nil {
							_, err = s.Recv()
						}
						return err
					}})
			}
			for _, tok := range orgs {
				for range 20 {
					attempts = append(attempts, attempt{"organisers' WatchEvent", watch(tok)})
				}
			}

			// Open them all at once; those that open stay open until the attacker leaves.
			type outcome struct {
				kind string
				err  error
			}
			outcomes := make(chan outcome, len(attempts))
			var held sync.WaitGroup
			for i, at := range attempts {
				held.Add(1)
				go func() {
					defer held.Done()
					octx, ocancel := context.WithTimeout(ctx, 20*time.Second)
					defer ocancel()
					sctx, scancel := context.WithCancel(ctx)
					defer scancel()
					first := make(chan error, 1)
					go func() { first <- at.open(sctx, conns[i%len(conns)]) }()
					select {
					case err := <-first:
						outcomes <- outcome{at.kind, err}
						if err == nil {
							<-ctx.Done() // held open
						}
					case <-octx.Done():
						outcomes <- outcome{at.kind, octx.Err()}
					}
				}()
			}
			opened := map[string]int{}
			refused := map[string]int{}
			for range attempts {
				o := <-outcomes
				switch code := status.Code(o.err); {
				case o.err == nil:
					opened[o.kind]++
				case code == codes.ResourceExhausted:
					refused[o.kind]++
				default:
					t.Errorf("%s: %v, want it open or RESOURCE_EXHAUSTED", o.kind, o.err)
				}
			}
			total := 0
			for _, n := range opened {
				total += n
			}
			t.Logf("%d stream attempts from one address: open %v, refused %v", len(attempts), opened, refused)
			if total > ratelimit.DefaultMaxStreamsPerAddr {
				t.Errorf("%d streams open from one address, want at most %d", total, ratelimit.DefaultMaxStreamsPerAddr)
			}
			if n := opened["WatchEvent"]; n > 20 {
				t.Errorf("%d anonymous watches open, want at most 20 (--max-watches)", n)
			}
			if n := opened["Health/Watch"] + opened["reflection"]; n > 20 {
				t.Errorf("%d health and reflection streams open for one caller, want at most 20 (--max-watches)", n)
			}

			// Bare connections: the surplus over the cap is closed at once, on both ports.
			// (Those within it stay until the handshake and header timeouts, 10 s, which
			// the checks below finish well within.)
			d := dialerFrom(t, attackerIP)
			var allBare []net.Conn
			defer func() {
				for _, c := range allBare {
					c.Close()
				}
			}()
			for _, port := range []struct{ name, addr string }{{"gRPC", a.GRPCAddr()}, {"HTTP", a.HTTPAddr()}} {
				var bare []net.Conn
				for range 200 {
					c, err := d.Dial("tcp", port.addr)
					if err != nil {
						t.Fatal(err)
					}
					bare = append(bare, c)
				}
				allBare = append(allBare, bare...)
				var closed sync.WaitGroup
				var n atomic.Int64
				deadline := time.Now().Add(500 * time.Millisecond)
				for _, c := range bare {
					closed.Add(1)
					go func() {
						defer closed.Done()
						_ = c.SetReadDeadline(deadline)
						if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
							n.Add(1)
						}
					}()
				}
				closed.Wait()
				held := len(bare) - int(n.Load())
				if port.name == "gRPC" {
					held += len(conns)
				}
				t.Logf("%s port: %d of 200 bare connections closed at once", port.name, n.Load())
				if held > ratelimit.DefaultMaxConnsPerAddr {
					t.Errorf("%s port: the address holds %d connections, want at most %d", port.name, held, ratelimit.DefaultMaxConnsPerAddr)
				}
			}

			// rallyd's goroutines are bounded by the caps, not by the attack: per call in
			// progress a handler (two, to be safe); per gRPC connection three (reader,
			// writer, keepalive); per HTTP connection two (the connection, a background read).
			during := serverGoroutines()
			bound := 2*ratelimit.DefaultMaxStreamsPerAddr + (3+2)*ratelimit.DefaultMaxConnsPerAddr
			t.Logf("server goroutines: %d before, %d during the flood (bound %d over the baseline)", baseline, during, bound)
			if during-baseline > bound {
				t.Errorf("server goroutines grew from %d to %d during the flood, want at most %d more", baseline, during, bound)
			}

			// Honest callers at another address are answered.
			hctx, hcancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer hcancel()
			if _, err := rallyv1.NewEventServiceClient(honest).GetEvent(hctx, &rallyv1.GetEventRequest{Name: w.event}); err != nil {
				t.Errorf("honest GetEvent: %v", err)
			}
			if err := watch("")(hctx, honest); err != nil {
				t.Errorf("honest WatchEvent: %v", err)
			}
			if r, err := healthpb.NewHealthClient(honest).Check(hctx, &healthpb.HealthCheckRequest{}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("honest health check: %v %v", r, err)
			}
			if resp, err := httpFrom(t, honestIP).Get("http://" + a.HTTPAddr() + "/v1/" + w.event); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("honest REST call: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}

			// When the attacker leaves, so do the goroutines.
			cancel()
			held.Wait()
			for _, c := range conns {
				c.Close()
			}
			for _, c := range allBare {
				c.Close()
			}
			eventually(t, 15*time.Second, "server goroutines back near the baseline", func() bool {
				return serverGoroutines() <= baseline+20
			})
		})
	}
}

// serverGoroutines counts the goroutines of the process that serve connections and calls
// (gRPC's server transports and handlers, net/http's connections, Rally's handlers),
// leaving out the test's own clients, which live in the same process.
func serverGoroutines() int {
	runtime.GC()
	buf := make([]byte, 32<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, mark := range []string{"(*http2Server)", "grpc.(*Server)", "transport.NewServerTransport", "net/http.(*conn)", "rally/internal/server.", "rally/internal/pubsub"} {
			if strings.Contains(g, mark) {
				n++
				break
			}
		}
	}
	return n
}
