package hub

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/rallyhq/rally/internal/pubsub"
)

// A cursor is, in unpadded base64url (URL-safe, so it can travel in a query string or a
// page token without escaping):
//
//	version (1 byte) | epoch (8 bytes) | FNV-1a of the topic (4 bytes) | life (uvarint) | number (uvarint)
//
// The epoch names one dataset of the broker (a memory broker's run, a Redis dataset): a
// cursor of another means nothing here, and reading from it could skip messages
// silently. The topic's hash keeps a cursor of one topic from being resumed on another.
// The life names one history of the topic (see Lives): when it began, in milliseconds
// on the broker's clock, 0 for a history that an older Rally numbered 1, 2, 3, …. The
// number is the message's in that life, from 1; 0 is a cursor given out while the topic
// had no history, before the first message of whatever life comes next (Head of an empty
// topic). So two cursors of one life differ by the number of messages between them,
// and a cursor never "continues" into another life: Resume decides what it may do.
//
// Version 1 (a position, without the life) is refused: its watchers get a fresh snapshot
// once, after the upgrade.
const cursorVersion = 2

// cursorBytes is the size of a cursor without its life and number.
const cursorBytes = 1 + 8 + 4

// maxCursorLen bounds what ParseCursor looks at: a real cursor is about 28 characters,
// and at most 44 (two 10-byte uvarints).
const maxCursorLen = 64

// Bounds of what a cursor may hold, so that a position computed from one never passes
// 2^54 (no overflow in Go, and Redis's Lua numbers, doubles, hold every position a
// broker writes, below 2^53): a life of 2^43 ms is the year 2248.
const (
	maxLife = 1 << 43
	maxN    = 1 << 53
)

var cursorEncoding = base64.RawURLEncoding.Strict()

// Cursor is what a cursor says; see the encoding above.
type Cursor struct {
	Epoch uint64
	// Life is when the life of the history began (ms on the broker's clock), or, for a
	// cursor of a topic without history (N 0), when the cursor was given out.
	Life uint64
	// N is the number of the message in its life, from 1; 0 before any message.
	N uint64
}

// MessageCursor is the cursor of the message at position pos of the life whose first
// message is at position first.
func MessageCursor(epoch uint64, topic string, first, pos uint64) string {
	return Cursor{Epoch: epoch, Life: LifeOf(first), N: pos - first + 1}.Encode(topic)
}

// EmptyCursor is the cursor of a topic without history at time now (ms on the broker's
// clock): before the first message of the next life.
func EmptyCursor(epoch uint64, topic string, now uint64) string {
	return Cursor{Epoch: epoch, Life: now}.Encode(topic)
}

// HeadCursor is the Head of a subscription that started when the topic's history was
// span, at now: its newest message, or, without history, an EmptyCursor.
func HeadCursor(epoch uint64, topic string, span Span, now uint64) string {
	if span.Last == 0 {
		return EmptyCursor(epoch, topic, now)
	}
	return MessageCursor(epoch, topic, span.First, span.Last)
}

// Encode returns the cursor of c for topic.
func (c Cursor) Encode(topic string) string {
	b := make([]byte, cursorBytes, cursorBytes+2*binary.MaxVarintLen64)
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], c.Epoch)
	binary.BigEndian.PutUint32(b[9:], topicHash(topic))
	b = binary.AppendUvarint(b, c.Life)
	b = binary.AppendUvarint(b, c.N)
	return cursorEncoding.EncodeToString(b)
}

// Pos is the position of c's message; for a cursor before any message, the position
// right before a life that began at c.Life.
func (c Cursor) Pos() uint64 { return LifeStart(c.Life) + c.N - 1 }

// ReadAfter is the position after which a broker reads the history for Resume: c's
// message, or, for a cursor before any message, the beginning (Resume wants the life
// whole).
func (c Cursor) ReadAfter() uint64 {
	if c.N == 0 {
		return 0
	}
	return c.Pos()
}

// ParseCursor decodes a cursor of topic. Anything that is not a cursor of this topic,
// as Encode writes it, is pubsub.ErrReset: the subscriber starts afresh rather than
// resuming from a position that was never given out.
func ParseCursor(cursor, topic string) (Cursor, error) {
	malformed := fmt.Errorf("%w: malformed cursor", pubsub.ErrReset)
	if len(cursor) > maxCursorLen {
		return Cursor{}, malformed
	}
	b, err := cursorEncoding.DecodeString(cursor)
	if err != nil || len(b) <= cursorBytes || b[0] != cursorVersion {
		return Cursor{}, malformed
	}
	if binary.BigEndian.Uint32(b[9:]) != topicHash(topic) {
		return Cursor{}, fmt.Errorf("%w: cursor of another topic", pubsub.ErrReset)
	}
	c := Cursor{Epoch: binary.BigEndian.Uint64(b[1:])}
	rest := b[cursorBytes:]
	var n, m int
	if c.Life, n = binary.Uvarint(rest); n <= 0 {
		return Cursor{}, malformed
	}
	if c.N, m = binary.Uvarint(rest[n:]); m <= 0 || n+m != len(rest) {
		return Cursor{}, malformed
	}
	if c.Life >= maxLife || c.N >= maxN {
		return Cursor{}, malformed
	}
	// The decoders are lenient where Encode is not: base64 skips \r and \n, and
	// binary.Uvarint accepts overlong forms (0x80 0x00 for 0). Only the one form that
	// Encode writes is a cursor.
	if c.Encode(topic) != cursor {
		return Cursor{}, malformed
	}
	return c, nil
}

// DecodeCursor returns the epoch of a cursor of topic and the number of its message in
// its life (0 for a cursor before any message), so that a test can count what lies
// between two cursors of one life. Brokers use ParseCursor.
func DecodeCursor(cursor, topic string) (epoch, n uint64, err error) {
	c, err := ParseCursor(cursor, topic)
	return c.Epoch, c.N, err
}

func topicHash(topic string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(topic))
	return h.Sum32()
}
