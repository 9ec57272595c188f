package hub

import (
	"errors"
	"math"
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
)

// FuzzDecodeCursor feeds arbitrary cursors, as a client can send them to resume a watch,
// to ParseCursor. It must never panic; it either rejects the cursor with pubsub.ErrReset
// or returns a Cursor that Encode turns back into the very same cursor: one position has
// one cursor, as the encoding's comment promises, and its position cannot overflow.
// `go test` runs the seeds; `go test -run '^$' -fuzz '^FuzzDecodeCursor$'` explores.
func FuzzDecodeCursor(f *testing.F) {
	for _, topic := range []string{"events/a", "campaigns/c", ""} {
		for _, epoch := range []uint64{0, 1, 0xdeadbeef, math.MaxUint64} {
			for _, life := range []uint64{0, 1, 1_780_000_000_000, math.MaxUint64} {
				for _, n := range []uint64{0, 1, 127, 128, 1 << 40, math.MaxUint64} {
					f.Add(Cursor{Epoch: epoch, Life: life, N: n}.Encode(topic), topic)
				}
			}
		}
	}
	good := Cursor{Epoch: 7, Life: 99, N: 42}.Encode("events/a")
	raw, _ := cursorEncoding.DecodeString(good)
	for _, c := range []string{
		"", "*!", good + "=", good + good + good + good, good[:len(good)-1], "AQ",
		cursorEncoding.EncodeToString(append(append([]byte(nil), raw[:cursorBytes]...), 0x80)),
		cursorEncoding.EncodeToString(append(append([]byte(nil), raw[:cursorBytes]...), 0x80, 0x00, 0x00)),
		cursorEncoding.EncodeToString(append(append([]byte(nil), raw...), 0)),
		good[:4] + "\n" + good[4:] + "\r",
	} {
		f.Add(c, "events/a")
	}
	f.Fuzz(func(t *testing.T, cursor, topic string) {
		c, err := ParseCursor(cursor, topic)
		if err != nil {
			if !errors.Is(err, pubsub.ErrReset) {
				t.Fatalf("ParseCursor(%q, %q): %v, want ErrReset", cursor, topic, err)
			}
			return
		}
		if again := c.Encode(topic); again != cursor {
			t.Fatalf("ParseCursor(%q, %q) = %+v, which encodes as %q", cursor, topic, c, again)
		}
		if c.Pos() < c.N || c.Pos() >= 1<<54 {
			t.Fatalf("cursor %q: position %d of %+v overflows", cursor, c.Pos(), c)
		}
		// The cursor belongs to its topic only (unless the other topic's hash collides,
		// which the fuzzer is welcome to find but is no bug).
		if other := topic + "x"; topicHash(other) != topicHash(topic) {
			if _, err := ParseCursor(cursor, other); !errors.Is(err, pubsub.ErrReset) {
				t.Fatalf("cursor %q of %q accepted for %q: %v", cursor, topic, other, err)
			}
		}
	})
}
