package gateway

import (
	"bytes"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestStreamJSONCache: a watch stream's message marshals as JSONPb would, whether or not
// it was cached, and a different message never gets another's JSON.
func TestStreamJSONCache(t *testing.T) {
	m := fieldMarshaler{&runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true}}}
	msg := func(text string) *rallyv1.Change {
		return &rallyv1.Change{Resource: "events/e1", Kind: rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT, Cursor: "c1",
			Announcement: &rallyv1.Announcement{Name: "events/e1/announcements/a1", Text: text}}
	}
	for _, text := range []string{"first", "second", "first", "second"} {
		v := map[string]any{"result": msg(text)}
		got, err := m.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.JSONPb.Marshal(map[string]any{"result": msg(text)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %s, want %s", text, got, want)
		}
	}
	// Anything else is marshalled as before.
	got, err := m.Marshal(msg("x"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := m.JSONPb.Marshal(msg("x")); !bytes.Equal(got, want) {
		t.Errorf("a message: %s, want %s", got, want)
	}
	// Messages of two types with the same bytes (none: both empty) have their own JSON.
	for range 2 {
		for _, empty := range []proto.Message{&rallyv1.Change{}, &rallyv1.Event{}} {
			got, err := m.Marshal(map[string]any{"result": empty})
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := m.JSONPb.Marshal(map[string]any{"result": empty}); !bytes.Equal(got, want) {
				t.Errorf("an empty %s: %s, want %s", proto.MessageName(empty), got, want)
			}
		}
	}
	// Many messages: the cache keeps a bounded number.
	for i := range 3 * streamJSONCacheLen {
		if _, err := m.Marshal(map[string]any{"result": msg(string(rune('a'+i%26)) + string(rune('0'+i)))}); err != nil {
			t.Fatal(err)
		}
	}
	streamJSON.mu.Lock()
	n := len(streamJSON.m)
	streamJSON.mu.Unlock()
	if n > streamJSONCacheLen {
		t.Errorf("the cache holds %d messages, at most %d", n, streamJSONCacheLen)
	}
}
