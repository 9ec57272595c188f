package hub

import (
	"errors"
	"math"
	"regexp"
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
)

func TestCursorRoundTrip(t *testing.T) {
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for _, epoch := range []uint64{1, 0xdeadbeef, math.MaxUint64} {
		for _, pos := range []uint64{0, 1, 127, 128, 1 << 40, math.MaxUint64} {
			c := EncodeCursor(epoch, "events/a", pos)
			if !urlSafe.MatchString(c) || len(c) > maxCursorLen {
				t.Fatalf("cursor %q: not URL-safe or too long", c)
			}
			e, p, err := DecodeCursor(c, "events/a")
			if err != nil || e != epoch || p != pos {
				t.Fatalf("DecodeCursor(EncodeCursor(%d, %d)) = %d, %d, %v", epoch, pos, e, p, err)
			}
		}
	}
}

func TestCursorRejects(t *testing.T) {
	good := EncodeCursor(7, "events/a", 42)
	raw, _ := cursorEncoding.DecodeString(good)
	reencode := func(f func([]byte) []byte) string {
		return cursorEncoding.EncodeToString(f(append([]byte(nil), raw...)))
	}
	for name, c := range map[string]string{
		"other topic":       EncodeCursor(7, "events/b", 42),
		"empty":             "",
		"not base64":        "*!",
		"padded":            good + "=",
		"other version":     reencode(func(b []byte) []byte { b[0] = 2; return b }),
		"no position":       reencode(func(b []byte) []byte { return b[:cursorBytes] }),
		"trailing byte":     reencode(func(b []byte) []byte { return append(b, 0) }),
		"unfinished varint": reencode(func(b []byte) []byte { return append(b[:cursorBytes], 0x80) }),
		"too long":          good + good + good + good,
	} {
		if _, _, err := DecodeCursor(c, "events/a"); !errors.Is(err, pubsub.ErrReset) {
			t.Errorf("%s (%q): %v, want ErrReset", name, c, err)
		}
	}
}
