package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/server"
)

// The idempotency-key metadata makes a create idempotent as request_id does, in either
// form the IETF draft's header may take (a bare key, a quoted string); it and the body
// may both give the key only when they agree.
func TestIdempotencyKeyMetadata(t *testing.T) {
	h := newHarness(t)
	withKey := func(keys ...string) context.Context {
		ctx := h.admin
		for _, k := range keys {
			ctx = metadata.AppendToOutgoingContext(ctx, server.IdempotencyKeyHeader, k)
		}
		return ctx
	}
	first, err := h.events.CreateEvent(withKey("8d3f1c2a-retry-key"), &rallyv1.CreateEventRequest{Event: validEvent("")})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Second)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		body string
	}{
		{"metadata again", withKey("8d3f1c2a-retry-key"), ""},
		{"quoted", withKey(`"8d3f1c2a-retry-key"`), ""},
		{"in the body", h.admin, "8d3f1c2a-retry-key"},
		{"both, the same", withKey("8d3f1c2a-retry-key"), "8d3f1c2a-retry-key"},
	} {
		again, err := h.events.CreateEvent(tc.ctx, &rallyv1.CreateEventRequest{Event: validEvent(""), RequestId: tc.body})
		if err != nil || !proto.Equal(first, again) {
			t.Errorf("%s: %v, %v; want the first event", tc.name, again, err)
		}
	}
	list, err := h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{})
	if err != nil || len(list.GetEvents()) != 1 {
		t.Fatalf("want one event after retried creates, got %v, %v", list, err)
	}

	for _, tc := range []struct {
		name, field string
		ctx         context.Context
		body        string
	}{
		{"differs from the body", "request_id", withKey("8d3f1c2a-retry-key"), "another-retry-key"},
		{"several", server.IdempotencyKeyHeader, withKey("8d3f1c2a-retry-key", "another-retry-key"), ""},
		{"empty", server.IdempotencyKeyHeader, withKey(""), ""},
		{"quoted empty", server.IdempotencyKeyHeader, withKey(`""`), ""},
		{"bad form", "request_id", withKey("no spaces, please"), ""},
		{"too short", "request_id", withKey("short"), ""},
	} {
		_, err := h.events.CreateEvent(tc.ctx, &rallyv1.CreateEventRequest{Event: validEvent(""), RequestId: tc.body})
		t.Run(tc.name, func(t *testing.T) { wantCode(t, err, codes.InvalidArgument, tc.field) })
	}

	// A method without request_id ignores the metadata: a client may send it with every call.
	if _, err := h.events.GetEvent(withKey("8d3f1c2a-retry-key", "two"), &rallyv1.GetEventRequest{Name: first.GetName()}); err != nil {
		t.Errorf("GetEvent with an idempotency key: %v", err)
	}
}
