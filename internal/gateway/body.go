package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// Request bodies are limited in size and in the time they may take to arrive. grpc-gateway
// reads a body only when it decodes it, long after any middleware has returned control,
// so the limits are enforced by wrapping the body, and errorHandler tells an oversized
// body (413) from malformed JSON (400) by the mark the wrapper leaves in the request's
// context.

type bodyStateKey struct{}

// bodyState records what happened to one request's body.
type bodyState struct {
	limit    int64
	tooLarge bool
	// badField and badReason: where and why the JSON body could not be decoded (see
	// decode.go); badReason is empty when it could.
	badField, badReason string
}

// limitBody caps each request body at limit bytes and gives it timeout to arrive.
//
// The timeout is per request rather than http.Server.ReadTimeout because net/http
// cancels a request's context when ReadTimeout expires, even after the body has been
// read: that would cut off server-streaming responses (watch endpoints) after
// ReadTimeout. Here the deadline is lifted as soon as the whole body has been read.
//
// A body that does not arrive in time keeps its deadline, and its connection is closed
// after the answer: once the handler has returned, net/http reads whatever is left of a
// body (up to 256 KiB) before the next request, and without a deadline that read waits as
// long as the client stalls, holding the connection and its goroutine for ever. With the
// deadline still set, that read fails at once and net/http closes the connection.
func limitBody(limit int64, timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state := &bodyState{limit: limit}
		r = r.WithContext(context.WithValue(r.Context(), bodyStateKey{}, state))
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if timeout > 0 {
				_ = rc.SetReadDeadline(time.Now().Add(timeout)) // unsupported writers: no deadline
			}
			body := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), state: state, rc: rc, timeout: timeout}
			if r.ProtoMajor == 1 {
				// Over HTTP/2 the stream is reset, and the connection's other streams
				// carry on; there, Connection: close would shut the connection down.
				body.header = w.Header()
			}
			r.Body = body
		}
		next.ServeHTTP(w, r)
	})
}

type limitedBody struct {
	io.ReadCloser
	state   *bodyState
	rc      *http.ResponseController
	timeout time.Duration
	header  http.Header // the response's, to ask for the connection to close; nil over HTTP/2
	done    bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
	case err == io.EOF:
		b.finish()
	case errors.As(err, &tooLarge):
		b.state.tooLarge = true
		b.fail()
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The client's own mistake, said plainly: the network error would name both
		// ends of the connection, and the answer reaches the client through any proxy.
		b.fail()
		err = fmt.Errorf("the request body did not arrive within %v", b.timeout)
	case errors.As(err, new(*net.OpError)):
		b.fail()
		err = errors.New("the request body could not be read") // without the addresses
	default: // a body cut short, malformed chunks: nothing that names the connection
		b.fail()
	}
	return n, err
}

// finish lifts the read deadline once the body is read, so that it does not apply to the
// rest of a long response. Only the end of the body lifts it: what a handler leaves
// unread (or closes) is net/http's to discard, within the deadline.
func (b *limitedBody) finish() {
	if !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}

// fail ends a body that could not be read (too slow, too large, or the connection
// broke): the deadline stays, so that nothing more is waited for, and the answer tells
// the client that the connection closes, since what remains of the body on it cannot be
// told from a next request.
func (b *limitedBody) fail() {
	if !b.done {
		b.done = true
		if b.header != nil {
			b.header.Set("Connection", "close")
		}
	}
}

// bodyTooLarge reports whether the request's body went over the limit, and the limit.
func bodyTooLarge(r *http.Request) (bool, string) {
	s, _ := r.Context().Value(bodyStateKey{}).(*bodyState)
	if s == nil || !s.tooLarge {
		return false, ""
	}
	return true, fmt.Sprintf("the request body is larger than the limit of %d bytes", s.limit)
}
