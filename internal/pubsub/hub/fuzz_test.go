package hub

import (
	"errors"
	"math"
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
)

// FuzzDecodeCursor feeds arbitrary cursors, as a client can send them to resume a watch,
// to DecodeCursor. It must never panic; it either rejects the cursor with
// pubsub.ErrReset or returns the epoch and position that EncodeCursor turns back into the
// very same cursor: one position has one cursor, as the encoding's comment promises.
// `go test` runs the seeds; `go test -run '^$' -fuzz '^FuzzDecodeCursor$'` explores.
func FuzzDecodeCursor(f *testing.F) {
	for _, topic := range []string{"events/a", "campaigns/c", ""} {
		for _, epoch := range []uint64{0, 1, 0xdeadbeef, math.MaxUint64} {
			for _, pos := range []uint64{0, 1, 127, 128, 1 << 40, math.MaxUint64} {
				f.Add(EncodeCursor(epoch, topic, pos), topic)
			}
		}
	}
	good := EncodeCursor(7, "events/a", 42)
	raw, _ := cursorEncoding.DecodeString(good)
	for _, c := range []string{
		"", "*!", good + "=", good + good + good + good, good[:len(good)-1], "AQ",
		cursorEncoding.EncodeToString(append(append([]byte(nil), raw[:cursorBytes]...), 0x80)),
		cursorEncoding.EncodeToString(append(append([]byte(nil), raw[:cursorBytes]...), 0x80, 0x00)),
		cursorEncoding.EncodeToString(append(append([]byte(nil), raw...), 0)),
		good[:4] + "\n" + good[4:] + "\r",
	} {
		f.Add(c, "events/a")
	}
	f.Fuzz(func(t *testing.T, cursor, topic string) {
		epoch, pos, err := DecodeCursor(cursor, topic)
		if err != nil {
			if !errors.Is(err, pubsub.ErrReset) {
				t.Fatalf("DecodeCursor(%q, %q): %v, want ErrReset", cursor, topic, err)
			}
			return
		}
		if again := EncodeCursor(epoch, topic, pos); again != cursor {
			t.Fatalf("DecodeCursor(%q, %q) = %d, %d, which encodes as %q", cursor, topic, epoch, pos, again)
		}
		// The cursor belongs to its topic only (unless the other topic's hash collides,
		// which the fuzzer is welcome to find but is no bug).
		if other := topic + "x"; topicHash(other) != topicHash(topic) {
			if _, _, err := DecodeCursor(cursor, other); !errors.Is(err, pubsub.ErrReset) {
				t.Fatalf("cursor %q of %q accepted for %q: %v", cursor, topic, other, err)
			}
		}
	})
}
