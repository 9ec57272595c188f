package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/pubsub"
)

// TestDecodeChange: the watchers of one message share one decoded Change, and a message
// of another topic at the same cursor (a cursor holds only a hash of its topic) gets its
// own, whether it comes right after or after a third.
func TestDecodeChange(t *testing.T) {
	s := &service{reads: newRecent(8)}
	msg := func(topic, cursor, text string) *pubsub.Message {
		b, err := proto.Marshal(&rallyv1.Change{Resource: "events/e1", Kind: rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT,
			Announcement: &rallyv1.Announcement{Text: text}})
		if err != nil {
			t.Fatal(err)
		}
		return &pubsub.Message{Topic: topic, Cursor: cursor, Payload: b}
	}
	decode := func(m *pubsub.Message, want string) *rallyv1.Change {
		t.Helper()
		c, err := s.decodeChange(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.GetAnnouncement().GetText(); got != want {
			t.Fatalf("%s@%s: %q, want %q", m.Topic, m.Cursor, got, want)
		}
		return c
	}
	a := msg("events/e1/public", "c1", "to the public")
	first := decode(a, "to the public")
	if again := decode(msg("events/e1/public", "c1", "to the public"), "to the public"); again != first {
		t.Error("a second watcher of the message decoded it again")
	}
	decode(msg("events/e1/organisers", "c1", "to the organisers"), "to the organisers")
	decode(a, "to the public")
	decode(msg("events/e2/public", "c2", "elsewhere"), "elsewhere")
	decode(msg("events/e1/organisers", "c1", "to the organisers"), "to the organisers")

	// A payload that is not a Change is an error for each watcher, not a cached value.
	bad := &pubsub.Message{Topic: "events/e1/public", Cursor: "c3", Payload: []byte{0xff}}
	for range 2 {
		if _, err := s.decodeChange(bad); err == nil {
			t.Fatal("an undecodable payload decoded")
		}
	}
}
