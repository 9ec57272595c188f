package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	pubsubmemory "github.com/rallyhq/rally/internal/pubsub/memory"
	"github.com/rallyhq/rally/internal/server"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/memory"
)

// hangingStore is a store whose GetEvent, while hang is set, answers only when the
// call's context ends, as go-redis does with a Redis that is stopped. It records how long
// each GetEvent was given.
type hangingStore struct {
	store.Store
	hang atomic.Bool

	mu    sync.Mutex
	given []time.Duration // time left until the context's deadline; 0: none
}

func (s *hangingStore) GetEvent(ctx context.Context, name string) (*rallyv1.Event, error) {
	var left time.Duration
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	s.mu.Lock()
	s.given = append(s.given, left)
	s.mu.Unlock()
	if s.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Store.GetEvent(ctx, name)
}

// lastGiven is the time left to the last GetEvent.
func (s *hangingStore) lastGiven() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.given[len(s.given)-1]
}

// serveHanging serves the real server over bufconn on a hangingStore, with the given
// call timeout (0: the default).
func serveHanging(t *testing.T, callTimeout time.Duration) (*hangingStore, *grpc.ClientConn) {
	t.Helper()
	clk := newClock()
	st := &hangingStore{Store: memory.New()}
	broker := pubsubmemory.New()
	t.Cleanup(func() { broker.Close() })
	conn := serve(t, server.Options{Store: st, AdminToken: adminToken, Now: clk.Now, Broker: broker, CallTimeout: callTimeout,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return st, conn
}

// TestCallTimeout: every unary call gets the server's deadline, which reaches the store;
// a client's shorter deadline is kept and a longer one shortened. A store that does not
// answer in time gives UNAVAILABLE, which clients retry, not DEADLINE_EXCEEDED for a
// deadline the client never set. Watch streams are not bound by it.
func TestCallTimeout(t *testing.T) {
	t.Parallel()
	const callTimeout = 300 * time.Millisecond
	// Generous slack: these machines are shared and noisy.
	const slack = 2 * time.Second
	st, conn := serveHanging(t, callTimeout)
	events := rallyv1.NewEventServiceClient(conn)
	ev, err := events.CreateEvent(admin(context.Background()), &rallyv1.CreateEventRequest{Event: validEvent("")})
	if err != nil {
		t.Fatal(err)
	}
	get := func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		_, err := events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: ev.GetName()})
		return time.Since(start), err
	}

	if _, err := get(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := st.lastGiven(); left <= 0 || left > callTimeout {
		t.Errorf("a call without a deadline gave the store %v, want the call timeout (%v) at most", left, callTimeout)
	}

	// A watch outlives the call timeout many times over.
	watchCtx, cancelWatch := context.WithCancel(admin(context.Background()))
	defer cancelWatch()
	watch, err := events.WatchEvent(watchCtx, &rallyv1.WatchEventRequest{Name: ev.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatalf("the watch's snapshot: %v", err)
	}

	st.hang.Store(true)
	took, err := get(context.Background())
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "did not answer in time") {
		t.Errorf("GetEvent without a deadline, the store hung: %v, want UNAVAILABLE: the store did not answer in time", err)
	}
	if took < callTimeout-50*time.Millisecond || took > callTimeout+slack {
		t.Errorf("GetEvent without a deadline, the store hung: answered after %v, want about the call timeout (%v)", took, callTimeout)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	took, err = get(ctx)
	cancel()
	if status.Code(err) != codes.Unavailable || took > callTimeout+slack {
		t.Errorf("GetEvent with a deadline in an hour, the store hung: %v after %v, want UNAVAILABLE after about %v", err, took, callTimeout)
	}
	if left := st.lastGiven(); left > callTimeout {
		t.Errorf("a call with a deadline in an hour gave the store %v, want the call timeout (%v) at most", left, callTimeout)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	took, err = get(ctx)
	cancel()
	if status.Code(err) != codes.DeadlineExceeded || took > 100*time.Millisecond+slack {
		t.Errorf("GetEvent with a 100ms deadline, the store hung: %v after %v, want DEADLINE_EXCEEDED", err, took)
	}
	if left := st.lastGiven(); left > 100*time.Millisecond {
		t.Errorf("a call with a 100ms deadline gave the store %v: the server lengthened the client's deadline", left)
	}

	st.hang.Store(false)
	if _, err := get(context.Background()); err != nil {
		t.Fatalf("GetEvent once the store answers again: %v", err)
	}

	// By now the watch is several call timeouts old: it still carries changes.
	ev.Title = "Vigil, moved"
	if _, err := events.UpdateEvent(admin(context.Background()), &rallyv1.UpdateEventRequest{Event: ev, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { _, err := watch.Recv(); got <- err }()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the watch ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch carried no change")
	}
}

// TestDefaultCallTimeout: a server built without a call timeout applies the default.
func TestDefaultCallTimeout(t *testing.T) {
	t.Parallel()
	st, conn := serveHanging(t, 0)
	events := rallyv1.NewEventServiceClient(conn)
	ev, err := events.CreateEvent(admin(context.Background()), &rallyv1.CreateEventRequest{Event: validEvent("")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.GetEvent(context.Background(), &rallyv1.GetEventRequest{Name: ev.GetName()}); err != nil {
		t.Fatal(err)
	}
	if left := st.lastGiven(); left <= server.DefaultCallTimeout-time.Second || left > server.DefaultCallTimeout {
		t.Errorf("a call without a deadline gave the store %v, want about DefaultCallTimeout (%v)", left, server.DefaultCallTimeout)
	}
}
