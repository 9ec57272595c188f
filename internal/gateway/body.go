package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
// ReadTimeout. Here the deadline is lifted as soon as the body has been read.
func limitBody(limit int64, timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state := &bodyState{limit: limit}
		r = r.WithContext(context.WithValue(r.Context(), bodyStateKey{}, state))
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if timeout > 0 {
				_ = rc.SetReadDeadline(time.Now().Add(timeout)) // unsupported writers: no deadline
			}
			r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), state: state, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

type limitedBody struct {
	io.ReadCloser
	state *bodyState
	rc    *http.ResponseController
	done  bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		b.state.tooLarge = true
	}
	if err != nil {
		b.finish()
	}
	return n, err
}

func (b *limitedBody) Close() error {
	b.finish()
	return b.ReadCloser.Close()
}

// finish lifts the read deadline once the body is read, so that it does not apply to the
// rest of a long response.
func (b *limitedBody) finish() {
	if !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
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
