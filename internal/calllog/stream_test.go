package calllog

import (
	"context"
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
		got, want := ours.lines(t), theirs.lines(t)
		if len(got) != 1 || len(want) != 1 {
			t.Fatalf("%v: lines %v, want %v", err, got, want)
		}
		for _, l := range []map[string]any{got[0], want[0]} {
			for _, k := range []string{"time", "grpc.start_time", "grpc.time_ms"} {
				if _, ok := l[k]; !ok {
					t.Errorf("%v: no %s in %v", err, k, l)
				}
				delete(l, k)
			}
		}
		if len(got[0]) != len(want[0]) {
			t.Errorf("%v: line %v, want %v", err, got[0], want[0])
		}
		for k, v := range want[0] {
			if got[0][k] != v {
				t.Errorf("%v: %s = %v, want %v", err, k, got[0][k], v)
			}
		}
	}
}
