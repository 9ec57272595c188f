package hub

import (
	"errors"
	"regexp"
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
)

func TestCursorRoundTrip(t *testing.T) {
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for _, epoch := range []uint64{0, 1, 0xdeadbeef, 1<<64 - 1} {
		for _, life := range []uint64{0, 1, 1_780_000_000_000, maxLife - 1} {
			for _, n := range []uint64{0, 1, 127, 128, 1 << 40, maxN - 1} {
				c := Cursor{Epoch: epoch, Life: life, N: n}
				s := c.Encode("events/a")
				if !urlSafe.MatchString(s) || len(s) > maxCursorLen {
					t.Fatalf("cursor %q: not URL-safe or too long", s)
				}
				got, err := ParseCursor(s, "events/a")
				if err != nil || got != c {
					t.Fatalf("ParseCursor(%v.Encode()) = %v, %v", c, got, err)
				}
				if e, gotN, err := DecodeCursor(s, "events/a"); err != nil || e != epoch || gotN != n {
					t.Fatalf("DecodeCursor(%v.Encode()) = %d, %d, %v", c, e, gotN, err)
				}
			}
		}
	}
}

// A cursor of today's Redis (a life begun in 2026, message 300) stays short: it travels
// in every change and every resumption.
func TestCursorLength(t *testing.T) {
	first := LifeStart(1_780_000_000_000)
	if s := MessageCursor(0xdeadbeefdeadbeef, "events/a", first, first+299); len(s) > 28 {
		t.Fatalf("cursor %q is %d characters, want at most 28", s, len(s))
	}
}

func TestMessageCursor(t *testing.T) {
	for _, first := range []uint64{1, LifeStart(1), LifeStart(1_780_000_000_000)} {
		for _, pos := range []uint64{first, first + 1, first + 5000} {
			c, err := ParseCursor(MessageCursor(7, "t", first, pos), "t")
			if err != nil || c.Life != LifeOf(first) || c.N != pos-first+1 || c.Pos() != pos || c.ReadAfter() != pos {
				t.Fatalf("MessageCursor(first %d, pos %d) = %+v (%v): Pos %d", first, pos, c, err, c.Pos())
			}
		}
	}
	c, err := ParseCursor(EmptyCursor(7, "t", 1234), "t")
	if err != nil || c != (Cursor{Epoch: 7, Life: 1234}) || c.ReadAfter() != 0 || c.Pos() != Before(1234) {
		t.Fatalf("EmptyCursor = %+v (%v)", c, err)
	}
}

func TestCursorRejects(t *testing.T) {
	good := Cursor{Epoch: 7, Life: 99, N: 42}.Encode("events/a")
	raw, _ := cursorEncoding.DecodeString(good)
	reencode := func(f func([]byte) []byte) string {
		return cursorEncoding.EncodeToString(f(append([]byte(nil), raw...)))
	}
	for name, c := range map[string]string{
		"other topic":       Cursor{Epoch: 7, Life: 99, N: 42}.Encode("events/b"),
		"empty":             "",
		"not base64":        "*!",
		"padded":            good + "=",
		"version 1":         reencode(func(b []byte) []byte { b[0] = 1; return b[:len(b)-1] }),
		"other version":     reencode(func(b []byte) []byte { b[0] = 3; return b }),
		"no life":           reencode(func(b []byte) []byte { return b[:cursorBytes] }),
		"no number":         reencode(func(b []byte) []byte { return b[:cursorBytes+1] }),
		"trailing byte":     reencode(func(b []byte) []byte { return append(b, 0) }),
		"unfinished varint": reencode(func(b []byte) []byte { return append(b[:cursorBytes+1], 0x80) }),
		"life too late":     Cursor{Epoch: 7, Life: maxLife, N: 42}.Encode("events/a"),
		"number too large":  Cursor{Epoch: 7, Life: 99, N: maxN}.Encode("events/a"),
		"too long":          good + good + good + good,
	} {
		if _, err := ParseCursor(c, "events/a"); !errors.Is(err, pubsub.ErrReset) {
			t.Errorf("%s (%q): %v, want ErrReset", name, c, err)
		}
	}
}
