package server

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

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

// TestSameChange: two Changes are the same only with every field equal and the very
// same messages; changing any one field of Change, one added later included, tells them
// apart, so that no watcher is ever sent the encoding of another's Change.
func TestSameChange(t *testing.T) {
	full := func() *rallyv1.Change {
		c := &rallyv1.Change{}
		m := c.ProtoReflect()
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			m.Set(fd, changed(t, m, fd))
		}
		return c
	}
	a := full()
	shallow := func() *rallyv1.Change { // a's values and a's very messages
		b := &rallyv1.Change{}
		a.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			b.ProtoReflect().Set(fd, v)
			return true
		})
		return b
	}
	if !sameChange(a, shallow()) {
		t.Fatal("a Change and its shallow copy are not the same")
	}
	fields := a.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		b := shallow()
		b.ProtoReflect().Set(fd, changed(t, b.ProtoReflect(), fd))
		if sameChange(a, b) || sameChange(b, a) {
			t.Errorf("Changes that differ in %s are the same to sameChange", fd.Name())
		}
	}
	b := shallow()
	b.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	if sameChange(a, b) {
		t.Error("a Change with unknown fields is the same as one without")
	}
}

// changed is a value for field fd of m other than the one it holds: for a message, a new
// one (equal contents, another pointer, which sameChange must tell apart too).
func changed(t *testing.T, m protoreflect.Message, fd protoreflect.FieldDescriptor) protoreflect.Value {
	t.Helper()
	if fd.IsList() || fd.IsMap() {
		t.Fatalf("Change.%s: sameChange and this test compare singular fields only", fd.Name())
	}
	old := m.Get(fd)
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(old.String() + "x")
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(!old.Bool())
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(old.Enum() + 1)
	case protoreflect.MessageKind:
		return protoreflect.ValueOfMessage(m.NewField(fd).Message())
	}
	t.Fatalf("Change.%s: a %v field, which this test cannot change", fd.Name(), fd.Kind())
	return protoreflect.Value{}
}

// TestEncodeChange: watchers sent equal Changes share one encoding, which is the
// Change's, and the port's codec writes exactly it; another Change gets its own.
func TestEncodeChange(t *testing.T) {
	s := &service{}
	ann := &rallyv1.Announcement{Name: "events/e1/announcements/a1", Text: "meet at noon"}
	change := func(a *rallyv1.Announcement) *rallyv1.Change {
		return &rallyv1.Change{Resource: "events/e1", Kind: rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT, Announcement: a, Cursor: "c1"}
	}
	codec := newRequestCodec()
	check := func(c *rallyv1.Change) *encodedChange {
		t.Helper()
		m := s.encodeChange(c)
		e, ok := m.(*encodedChange)
		if !ok {
			t.Fatalf("encodeChange gave a %T", m)
		}
		want, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Materialize(), want) {
			t.Fatalf("the codec wrote %x, want %x", got.Materialize(), want)
		}
		got.Free() // shared bytes: Free leaves them alone
		if !bytes.Equal(e.Wire(), want) {
			t.Fatalf("after Free: %x, want %x", e.Wire(), want)
		}
		return e
	}
	first := check(change(ann))
	if second := check(change(ann)); second != first {
		t.Error("a second watcher's equal Change was encoded again")
	}
	// Equal contents in another message: encoded for itself.
	other := check(change(&rallyv1.Announcement{Name: ann.Name, Text: "meet at one"}))
	if other == first {
		t.Error("another announcement got the first one's encoding")
	}
	// Anything else the codec encodes itself.
	b, err := codec.Marshal(ann)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := proto.Marshal(ann); !bytes.Equal(b.Materialize(), want) {
		t.Errorf("an announcement: %x, want %x", b.Materialize(), want)
	}
}
