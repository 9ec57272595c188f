package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
)

// DefaultCallTimeout bounds every unary call on the server's side. Rally's calls are a
// few Redis commands, which answer in milliseconds; a call still running after a few
// seconds is waiting on a store that hangs (a long fork, a partition), and its client is
// better served by a quick UNAVAILABLE to retry (on another replica, or later) than by a
// goroutine, a Redis connection and its own patience held until the store answers.
const DefaultCallTimeout = 3 * time.Second

// errCallTimeout is the cause of a call's context when the server's own deadline passed,
// as opposed to the client's: the error mapper tells the two apart (context.Cause), since
// only the client knows its own deadline passed, and only ours means the store did not
// answer in time.
var errCallTimeout = errors.New("the server's call timeout passed")

// deadlineUnaryInterceptor gives each unary call a deadline of at most d from now, so
// that everything it waits on (authentication, rate limits, the store) gives up by then:
// go-redis takes its deadlines from the context. A client's earlier deadline is kept as
// it is; a later one, or none, is shortened to d. Streams are not bounded here: a watch
// lasts hours, and bounds each of its own store reads (see watch.go). d <= 0 means
// DefaultCallTimeout.
func deadlineUnaryInterceptor(d time.Duration) grpc.UnaryServerInterceptor {
	if d <= 0 {
		d = DefaultCallTimeout
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
			return handler(ctx, req)
		}
		ctx, cancel := context.WithTimeoutCause(ctx, d, errCallTimeout)
		defer cancel()
		return handler(ctx, req)
	}
}

// callTimedOut reports whether ctx ended because the server's call timeout passed (not
// the client's deadline, nor a cancellation).
func callTimedOut(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errCallTimeout)
}
