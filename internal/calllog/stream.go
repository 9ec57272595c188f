package calllog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/streamchain"
)

// StreamStage logs a finished stream as go-grpc-middleware's logging interceptor does
// with logging.WithLogOnEvents(logging.FinishCall) (the same message and fields, through
// Log), at the level levels gives its code. It is a stage of a flat chain
// (streamchain), which that interceptor cannot be; and it keeps only the stream's start
// time until the stream ends, building the fields then and only if the line is logged,
// where the interceptor built them and put them in the context of every stream up front
// (a watch stream held them for hours, for one line at its end).
func (l *Logger) StreamStage(levels func(codes.Code) logging.Level) streamchain.Stage {
	return func(c *streamchain.Call) (func(error) error, error) {
		ctx, start := c.Ctx, time.Now()
		method := c.Info.FullMethod
		typ := streamType(c.Info.IsClientStream, c.Info.IsServerStream)
		return func(err error) error {
			l.finished(ctx, levels, method, typ, start, err)
			return err
		}, nil
	}
}

// UnaryServerInterceptor logs a finished unary call as StreamStage does a stream, and
// for the same reason: go-grpc-middleware's logging interceptor builds every call's fields
// (its metadata, the peer, a dozen strings) and a reporter before the handler runs and
// whatever the level, and this service logs successful calls at debug, so in production
// it built them for nothing, on every call (docs/performance.md has the profile). This
// keeps the start time, and builds the fields only for a line that is written.
func (l *Logger) UnaryServerInterceptor(levels func(codes.Code) logging.Level) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		l.finished(ctx, levels, info.FullMethod, "unary", start, err)
		return resp, err
	}
}

func (l *Logger) finished(ctx context.Context, levels func(codes.Code) logging.Level, fullMethod, typ string, start time.Time, err error) {
	logErr := err
	if errors.Is(logErr, io.EOF) {
		logErr = nil
	}
	code := status.Code(logErr)
	lvl := levels(code)
	if !l.log.Enabled(ctx, slog.Level(lvl)) {
		return
	}
	service, method := splitMethod(fullMethod)
	fields := []any{
		logging.SystemTag[0], logging.SystemTag[1],
		logging.ComponentFieldKey, logging.KindServerFieldValue,
		logging.ServiceFieldKey, service,
		logging.MethodFieldKey, method,
		logging.MethodTypeFieldKey, typ,
		"grpc.start_time", start.Format(time.RFC3339),
	}
	if d, ok := ctx.Deadline(); ok {
		fields = append(fields, "grpc.request.deadline", d.Format(time.RFC3339))
	}
	fields = append(fields, "grpc.code", code.String())
	if logErr != nil {
		fields = append(fields, "grpc.error", fmt.Sprintf("%v", logErr))
	}
	elapsed := time.Since(start)
	fields = append(fields, "grpc.time_ms", fmt.Sprintf("%v", float32(elapsed.Nanoseconds()/1000)/1000))
	l.Log(ctx, lvl, "finished call", fields...)
}

// splitMethod splits /rally.v1.EventService/WatchEvent as the logging interceptor does.
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.Index(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", "unknown"
}

// streamType is the grpc.method_type of a stream, as the logging interceptor names it.
func streamType(clientStream, serverStream bool) string {
	switch {
	case clientStream && !serverStream:
		return "client_stream"
	case !clientStream && serverStream:
		return "server_stream"
	case clientStream && serverStream:
		return "bidi_stream"
	}
	return "unary"
}
