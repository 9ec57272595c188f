package gateway

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// A REST watch over HTTP/1.1 owns its connection once its first message is ready
// (issue 19's memory per watcher). Served in the request's goroutine, a watch held
// net/http's connection goroutine for its whole life, with the stack of the middlewares,
// grpc-gateway's mux and the handler (too deep for the runtime to shrink), net/http's
// reader, writer and chunk writer, the parsed request and a second goroutine reading in
// the background: more than a gRPC watcher with its HTTP/2 connection, for the simpler
// protocol (figures in docs/performance.md). So the watch runs in a goroutine of its own from
// the start, and at its first message takes the connection over (Hijack): it writes the
// response's head and each message as a chunk itself, and the request's goroutine and
// everything net/http held for the request are released. What stays is the watch's
// goroutine, whose stack holds only the stream chain and the handler, and a reader that
// notices when the client leaves.
//
// Until the first message nothing changes: refusals and errors are answered through the
// ResponseWriter with their HTTP status, as before, and the request's context still ends
// the watch. HTTP/2 (whose connections cannot be taken) and HTTP/1.0 (no chunked
// encoding) keep the request's goroutine throughout; so does a server whose
// ResponseWriter cannot Hijack.
//
// The framing is HTTP/1.1's chunked transfer coding (RFC 9112 §7.1), written by the
// standard library's httputil.NewChunkedWriter; the head is the status line, the
// response's headers as http.Header.Write writes them, Date, Transfer-Encoding: chunked
// and Connection: close, since the connection ends with the stream: net/http cannot
// take back a connection it gave away.

// watchConns are the watches running in goroutines of their own, for Close.
type watchConns struct {
	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup // Add under mu
	watches map[*ownWatch]struct{}
}

// ownWatch is one watch in a goroutine of its own: what Close ends it with.
type ownWatch struct {
	cancel context.CancelFunc
	conn   net.Conn // once it owns its connection
}

// serve runs the watch (run, with sw writing its messages) in a goroutine of its own, and
// returns once the watch has ended or owns the connection. ctx is the request's call
// context: the watch's context keeps its values, and its cancellation until the
// connection is taken.
func (c *watchConns) serve(ctx context.Context, req *http.Request, sw *streamWriter, run func(context.Context) error) {
	c.mu.Lock()
	if c.closed || req.ProtoMajor != 1 || req.ProtoMinor < 1 {
		c.mu.Unlock()
		if err := run(ctx); err != nil {
			sw.fail(err)
		}
		return
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	own := &ownWatch{cancel: cancel}
	if c.watches == nil {
		c.watches = make(map[*ownWatch]struct{})
	}
	c.watches[own] = struct{}{}
	c.running.Add(1)
	c.mu.Unlock()

	unlink := context.AfterFunc(ctx, cancel)
	released := make(chan struct{}) // the request's goroutine may return
	sw.ctx = wctx
	sw.take = func() net.Conn {
		conn := c.take(own, sw.rc)
		if conn != nil {
			unlink() // net/http ends the request's context when the handler returns
			close(released)
		}
		return conn
	}
	go func() {
		defer c.running.Done()
		defer cancel()
		err := run(wctx)
		if err != nil {
			sw.fail(err)
		}
		c.mu.Lock()
		delete(c.watches, own)
		c.mu.Unlock()
		if sw.conn == nil {
			close(released)
			return
		}
		sw.end()
	}()
	<-released
}

// take hijacks the connection for a watch, clears the deadlines net/http may have left on
// it and starts its reader, which ends the watch when the client closes the connection
// or sends anything: no request can follow a watch on it. nil: the watch carries on
// through the ResponseWriter.
func (c *watchConns) take(own *ownWatch, rc *http.ResponseController) net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	// Nothing was written yet (the head is the watch's to write), so the returned writer
	// holds nothing to flush, and whatever the reader holds is what a client sent after
	// its GET: both are left.
	conn, _, err := rc.Hijack()
	if err != nil {
		return nil
	}
	_ = conn.SetDeadline(time.Time{})
	own.conn = conn
	go func() {
		var b [1]byte
		_, _ = conn.Read(b[:])
		own.cancel()
	}()
	return conn
}

// close ends every watch running in a goroutine of its own (its context, and its
// connection if it owns one, whose writes and reads then fail) and waits for them: a
// connection a watch owns is beyond http.Server's Shutdown and Close. Watches that start
// after it keep their request's goroutine, which the server's Shutdown or Close sees to.
func (c *watchConns) close() {
	c.mu.Lock()
	c.closed = true
	for own := range c.watches {
		own.cancel()
		if own.conn != nil {
			_ = own.conn.Close()
		}
	}
	c.mu.Unlock()
	c.running.Wait()
}

// chunks pools the buffers a message's chunk is framed in before its one write.
var chunks = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeChunks writes head (the response's head, or nothing) and the parts as chunks of
// the response, and the last chunk if last, in one write to conn.
func writeChunks(conn net.Conn, head []byte, last bool, parts ...[]byte) error {
	b := chunks.Get().(*bytes.Buffer)
	defer chunks.Put(b)
	b.Reset()
	b.Write(head)
	cw := httputil.NewChunkedWriter(b)
	for _, p := range parts {
		if len(p) > 0 {
			_, _ = cw.Write(p)
		}
	}
	if last {
		_ = cw.Close()        // the last chunk, "0\r\n"
		b.WriteString("\r\n") // and the end of the (empty) trailer section
	}
	_, err := conn.Write(b.Bytes())
	return err
}

// responseHead is the head of a watch's response on a connection it owns: 200, the
// response's headers, Date, chunked, and the connection closing at the end.
func responseHead(h http.Header) []byte {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	h = h.Clone()
	h.Del("Transfer-Encoding")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Connection", "close")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}
