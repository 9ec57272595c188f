package gateway

import (
	"context"
	"io"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// Watch streams over REST run in process (issue 19). The generated handlers of the
// watch routes open a client stream and pull its messages (Recv) while the gRPC handler
// pushes them (Send): joining the two in process would take a goroutine per watcher, or
// the loopback connection, which cost each REST watcher a client stream with its context
// watcher, a server-side handler goroutine and its share of the loopback transport, and
// each message a protobuf round trip through HTTP/2 and two sockets. So the gateway
// registers the watch routes' handlers itself, over the generated ones: each runs the
// gRPC port's stream interceptors and handler in process (the connection's ServeStream,
// server.Server.Local's; over HTTP/1.1 in a goroutine of its own that takes the
// connection over at the first message, watchconn.go) and writes every message as it is
// sent, exactly as grpc-gateway's generated handler and runtime.ForwardResponseStream do
// for a stream over the connection:
//   - the request decoded from the path and the query as the generated request_ function
//     does, a failure answered by the error handler (errorHandler) as there;
//   - the response headers from the handler's metadata (outgoingHeaderMatcher) and
//     Transfer-Encoding: chunked, Content-Type at the first message;
//   - each message as {"result": message} with the configured marshaler (and so the
//     JSON cache of streamjson.go), the delimiter, and a flush;
//   - the call's error as {"error": status} in the stream, with the HTTP status of its
//     code if nothing was written yet (the error handler is not used there, as over the
//     connection: a refused watch is 429 without Retry-After, for instance).
//
// The mux sets no forward response options, rewriter or stream error handler; these
// would have to be applied here too. The client's disconnection ends the handler (the
// request's context, or the reader of a connection the watch owns).
// TestLocalWatchAsThePort compares the two paths.

// localStreamer is the connection Options.Local returns when it serves server streams
// in process: server.Server.Local's (internal/server/local_stream.go).
type localStreamer interface {
	ServeStream(ctx context.Context, method string, req any, header func(metadata.MD), send func(any) error) error
}

// watchRoute is the REST route of a server-streaming method: its google.api.http rule
// (rally/v1/event.proto), whose path parameters are params.
type watchRoute struct {
	method, pattern string
	params          []string
	request         func() proto.Message
}

// watchVerb ends the path of every watch route (AIP-136's custom method verb), which
// is how the middlewares in front of grpc-gateway's mux tell a stream (compress.go);
// TestWatchRoutes checks every route ends in it.
const watchVerb = ":watch"

// watchRoutes are the routes of every server-streaming method; TestWatchRoutes checks
// them against the services' descriptors.
var watchRoutes = []watchRoute{
	{"/rally.v1.EventService/WatchEvent", "/v1/{name=events/*}:watch", []string{"name"},
		func() proto.Message { return new(rallyv1.WatchEventRequest) }},
	{"/rally.v1.EventService/WatchCampaign", "/v1/{name=campaigns/*}:watch", []string{"name"},
		func() proto.Message { return new(rallyv1.WatchCampaignRequest) }},
}

// serveWatchesLocally registers the watch routes on mux, in front of the generated
// handlers, to be served by ls; over HTTP/1.1 a watch owns its connection from its first
// message on, one of conns (watchconn.go).
func serveWatchesLocally(mux *runtime.ServeMux, ls localStreamer, conns *watchConns) error {
	for _, r := range watchRoutes {
		filter := utilities.NewDoubleArray([][]string{r.params})
		err := mux.HandlePath(http.MethodGet, r.pattern, func(w http.ResponseWriter, req *http.Request, pathParams map[string]string) {
			ctx := req.Context()
			_, outbound := runtime.MarshalerForRequest(mux, req)
			actx, err := runtime.AnnotateContext(ctx, mux, req, r.method, runtime.WithHTTPPathPattern(r.pattern))
			if err != nil {
				runtime.HTTPError(ctx, mux, outbound, w, req, err)
				return
			}
			in, err := r.decode(req, pathParams, filter)
			if err == nil {
				// grpc-go's NewStream refuses a call whose context has ended.
				err = status.FromContextError(actx.Err()).Err()
			}
			if err != nil {
				runtime.HTTPError(runtime.NewServerMetadataContext(actx, runtime.ServerMetadata{}), mux, outbound, w, req, err)
				return
			}
			sw := &streamWriter{ctx: actx, marshaler: outbound, w: w, rc: http.NewResponseController(w), delimiter: []byte("\n")}
			if d, ok := outbound.(runtime.Delimited); ok {
				sw.delimiter = d.Delimiter()
			}
			conns.serve(actx, req, sw, func(ctx context.Context) error {
				return ls.ServeStream(ctx, r.method, in, sw.header, sw.send)
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// decode is the generated request_ function's decoding: the path parameters, then the
// query (but the path's fields), the body read and discarded.
func (r watchRoute) decode(req *http.Request, pathParams map[string]string, filter *utilities.DoubleArray) (proto.Message, error) {
	in := r.request()
	for _, p := range r.params {
		val, ok := pathParams[p]
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "missing parameter %s", p)
		}
		if err := runtime.PopulateFieldFromPath(in, p, val); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "type mismatch, parameter: %s, error: %v", p, err)
		}
	}
	if err := req.ParseForm(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if err := runtime.PopulateQueryParameters(in, req.Form, filter); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
	}
	return in, nil
}

// streamWriter writes a stream's messages to the HTTP response as
// runtime.ForwardResponseStream does.
type streamWriter struct {
	ctx       context.Context
	marshaler runtime.Marshaler
	w         http.ResponseWriter // nil once the watch owns its connection
	rc        *http.ResponseController
	delimiter []byte
	headed    bool // the headers are set
	wrote     bool // a message was written: the status is sent
	done      bool // the stream's error was written, or writing failed
	lost      bool // writing failed: the connection is gone
	// take, when set, takes the connection over at the first message (watchconn.go);
	// conn is the connection then, written in chunks.
	take func() net.Conn
	conn net.Conn
}

// header sets the response headers from the call's header metadata.
func (s *streamWriter) header(md metadata.MD) {
	if s.headed {
		return
	}
	s.headed = true
	h := s.w.Header()
	for k, vs := range md {
		if name, ok := outgoingHeaderMatcher(k); ok {
			for _, v := range vs {
				h.Add(name, v)
			}
		}
	}
	h.Set("Transfer-Encoding", "chunked")
}

// errGone is what the handler's SendMsg returns once the response cannot be written: as
// over the connection, where the gateway cancelled the call, the client went away.
var errGone = status.FromContextError(context.Canceled).Err()

// send writes one message, flushed.
func (s *streamWriter) send(m any) error {
	if s.done {
		return errGone
	}
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %T is not a proto.Message", m)
	}
	if !s.wrote {
		var contentType string
		if sct, ok := s.marshaler.(runtime.StreamContentType); ok {
			contentType = sct.StreamContentType(msg)
		} else {
			contentType = s.marshaler.ContentType(msg)
		}
		s.w.Header().Set("Content-Type", contentType)
	}
	result := map[string]any{"result": msg}
	if rb, ok := msg.(interface{ XXX_ResponseBody() any }); ok {
		result["result"] = rb.XXX_ResponseBody()
	}
	buf, err := s.marshaler.Marshal(result)
	if err != nil {
		s.fail(err)
		return errGone
	}
	var head []byte
	if !s.wrote && s.take != nil {
		if s.conn = s.take(); s.conn != nil {
			head = responseHead(s.w.Header())
			s.w, s.rc = nil, nil
		}
	}
	s.wrote = true
	if s.conn != nil {
		err = writeChunks(s.conn, head, false, buf, s.delimiter)
	} else if _, err = s.w.Write(buf); err == nil {
		if _, err = s.w.Write(s.delimiter); err == nil {
			err = s.rc.Flush()
		}
	}
	if err != nil {
		s.done, s.lost = true, true
		return errGone
	}
	return nil
}

// end ends the response on a connection the watch owns: the last chunk, then the
// connection closes.
func (s *streamWriter) end() {
	if !s.lost {
		_ = writeChunks(s.conn, nil, true)
	}
	_ = s.conn.Close()
}

// fail writes the stream's error as {"error": status}, with the HTTP status of its code
// when no message was written.
func (s *streamWriter) fail(err error) {
	if s.done {
		return
	}
	s.done = true
	s.header(nil)
	st := runtime.DefaultStreamErrorHandler(s.ctx, err)
	msg := map[string]proto.Message{"error": st.Proto()}
	if !s.wrote {
		s.w.Header().Set("Content-Type", s.marshaler.ContentType(msg))
		s.w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	}
	buf, err := s.marshaler.Marshal(msg)
	if err != nil {
		return
	}
	if s.conn != nil {
		if writeChunks(s.conn, nil, false, buf, s.delimiter) != nil {
			s.lost = true
		}
		return
	}
	if _, err := s.w.Write(buf); err != nil {
		return
	}
	_, _ = s.w.Write(s.delimiter)
}
