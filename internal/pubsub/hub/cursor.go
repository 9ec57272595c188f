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
//	version (1 byte) | epoch (8 bytes) | FNV-1a of the topic (4 bytes) | position (uvarint)
//
// The epoch names one life of the history (a memory broker's run, a Redis dataset): a
// position of another life means nothing here, and reading from it could skip messages
// silently. The topic's hash keeps a cursor of one topic from being resumed on another,
// where its position would be just as meaningless. Both brokers number a topic's
// messages 1, 2, 3, … (see Entry), so this encoding really is the same for both.
const cursorVersion = 1

// cursorBytes is the size of a cursor without its position.
const cursorBytes = 1 + 8 + 4

// maxCursorLen bounds what DecodeCursor looks at: a real cursor is at most 31 characters.
const maxCursorLen = 64

var cursorEncoding = base64.RawURLEncoding.Strict()

// EncodeCursor returns the cursor of position pos of topic in epoch.
func EncodeCursor(epoch uint64, topic string, pos uint64) string {
	b := make([]byte, cursorBytes, cursorBytes+binary.MaxVarintLen64)
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], epoch)
	binary.BigEndian.PutUint32(b[9:], topicHash(topic))
	b = binary.AppendUvarint(b, pos)
	return cursorEncoding.EncodeToString(b)
}

// DecodeCursor returns the epoch and position of a cursor of topic. Anything that is not
// a cursor of this topic, as EncodeCursor writes it, is pubsub.ErrReset: the subscriber
// starts afresh rather than resuming from a position that was never given out.
func DecodeCursor(cursor, topic string) (epoch, pos uint64, err error) {
	if len(cursor) > maxCursorLen {
		return 0, 0, fmt.Errorf("%w: malformed cursor", pubsub.ErrReset)
	}
	b, err := cursorEncoding.DecodeString(cursor)
	if err != nil || len(b) <= cursorBytes || b[0] != cursorVersion {
		return 0, 0, fmt.Errorf("%w: malformed cursor", pubsub.ErrReset)
	}
	if binary.BigEndian.Uint32(b[9:]) != topicHash(topic) {
		return 0, 0, fmt.Errorf("%w: cursor of another topic", pubsub.ErrReset)
	}
	pos, n := binary.Uvarint(b[cursorBytes:])
	if n <= 0 || cursorBytes+n != len(b) {
		return 0, 0, fmt.Errorf("%w: malformed cursor", pubsub.ErrReset)
	}
	epoch = binary.BigEndian.Uint64(b[1:])
	// The decoders are lenient where EncodeCursor is not: base64 skips \r and \n, and
	// binary.Uvarint accepts overlong forms (0x80 0x00 for 0). Only the one form that
	// EncodeCursor writes is a cursor.
	if EncodeCursor(epoch, topic, pos) != cursor {
		return 0, 0, fmt.Errorf("%w: malformed cursor", pubsub.ErrReset)
	}
	return epoch, pos, nil
}

func topicHash(topic string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(topic))
	return h.Sum32()
}
