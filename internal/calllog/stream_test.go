package calllog

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/streamchain"
)

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

func level(c codes.Code) logging.Level {
	if c == codes.OK {
		return logging.LevelDebug
	}
	return logging.DefaultServerCodeToLevel(c)
}

// StreamStage writes the line go-grpc-middleware's logging interceptor writes, field for
// field (times aside), for streams that end well, with EOF, refused or failed.
func TestStreamStageAsLoggingInterceptor(t *testing.T) {
	info := &grpc.StreamServerInfo{FullMethod: "/rally.v1.EventService/WatchEvent", IsServerStream: true}
	for _, err := range []error{nil, io.EOF, status.Error(codes.PermissionDenied, "events/e/rsvps/r: no"), status.Error(codes.Internal, "boom")} {
		var ours, theirs syncBuffer
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
		handler := func(any, grpc.ServerStream) error { return err }
		_ = new(streamchain.Chain).Stage(New(newLogger(&ours)).StreamStage(level)).StreamServerInterceptor()(nil, fakeStream{ctx: ctx}, info, handler)
		_ = logging.StreamServerInterceptor(New(newLogger(&theirs)), logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(level))(nil, fakeStream{ctx: ctx}, info, handler)
		cancel()
		sameLine(t, fmt.Sprint(err), ours.lines(t), theirs.lines(t))
	}
}

// UnaryServerInterceptor writes the interceptor's line too, with and without a
// deadline, and hands back the handler's reply and error untouched.
func TestUnaryAsLoggingInterceptor(t *testing.T) {
	info := &grpc.UnaryServerInfo{FullMethod: "/rally.v1.RsvpService/CreateRsvp"}
	for _, err := range []error{nil, status.Error(codes.InvalidArgument, "events/e/rsvps/r: bad"), status.Error(codes.Unavailable, "down"), status.Error(codes.Internal, "boom")} {
		for _, deadline := range []bool{false, true} {
			var ours, theirs syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			if deadline {
				ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Hour))
			}
			handler := func(context.Context, any) (any, error) { return "reply", err }
			resp, gotErr := New(newLogger(&ours)).UnaryServerInterceptor(level)(ctx, "req", info, handler)
			_, _ = logging.UnaryServerInterceptor(New(newLogger(&theirs)), logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(level))(ctx, "req", info, handler)
			cancel()
			if resp != "reply" || gotErr != err {
				t.Errorf("%v: returned %v, %v", err, resp, gotErr)
			}
			sameLine(t, fmt.Sprintf("%v, deadline %v", err, deadline), ours.lines(t), theirs.lines(t))
		}
	}
}

// sameLine fails unless got and want are one line each with the same fields, times aside.
func sameLine(t *testing.T, name string, got, want []map[string]any) {
	t.Helper()
	if len(got) != 1 || len(want) != 1 {
		t.Fatalf("%s: lines %v, want %v", name, got, want)
	}
	for _, l := range []map[string]any{got[0], want[0]} {
		for _, k := range []string{"time", "grpc.start_time", "grpc.time_ms"} {
			if _, ok := l[k]; !ok {
				t.Errorf("%s: no %s in %v", name, k, l)
			}
			delete(l, k)
		}
	}
	if len(got[0]) != len(want[0]) {
		t.Errorf("%s: line %v, want %v", name, got[0], want[0])
	}
	for k, v := range want[0] {
		if got[0][k] != v {
			t.Errorf("%s: %s = %v, want %v", name, k, got[0][k], v)
		}
	}
}
