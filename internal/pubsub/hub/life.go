package hub

// PerMilli is how many positions a millisecond of a life's start is worth. The Redis
// scripts (lib.lua) multiply by the same number.
const PerMilli = 1024

// skewMargin is how far, in ms, EmptyAfter places a subscription of a topic without
// history before the time it read: a life whose start a clock that stepped back dates
// a little before the read is still after the subscription.
const skewMargin = 1000

// LifeStart is the position of the first message of a life that began at ms; life 0 is a
// history numbered 1, 2, 3, … by an older Rally.
func LifeStart(ms uint64) uint64 {
	if ms == 0 {
		return 1
	}
	return ms * PerMilli
}

// LifeOf is the life whose first message is at position first (the inverse of
// LifeStart).
func LifeOf(first uint64) uint64 { return first / PerMilli }

// Before is the position right before the first message of a life that begins at ms.
func Before(ms uint64) uint64 { return LifeStart(ms) - 1 }

// timeOf is when position pos was at the latest, in ms: exact for Before, and for a
// message's position not before its life began (a life's positions run ahead of its
// clock only if it takes more than PerMilli messages a millisecond).
func timeOf(pos uint64) uint64 { return (pos + 1) / PerMilli }

// EmptyAfter is where a subscription of a topic that had no history at now starts: before
// every life that begins from now on, even if a clock that stepped back by up to
// skewMargin (or a quarter of the lifetime, if shorter) dates it before now.
func EmptyAfter(now, lifetime uint64) uint64 {
	margin := min(uint64(skewMargin), lifetime/4)
	if now <= margin {
		return Before(1)
	}
	return Before(now - margin)
}

// Span is what a read found of a topic's history, at one moment: the positions of the
// first message of its life and of its newest message. Both are 0 when the topic has
// no history (it never had one, or it expired).
type Span struct{ First, Last uint64 }

// Follows reports whether a live feed that has every message up to position after can
// carry on with entries, read after after at time now (ms) from a history whose span is
// span: the history continues right after after (Continues); or it is missing, and not
// long enough for a life to have come and gone since after; or it is a new life that
// began less than a lifetime after after (a feed that started on a topic without
// history: EmptyAfter) and is still whole. A feed of an expired life fails the last two,
// for its life's last message is at least as late as after and the life expired a
// lifetime after it.
func Follows(after uint64, span Span, entries []Entry, now, lifetime uint64) bool {
	switch {
	case span.Last == 0:
		return now < timeOf(after)+lifetime
	case after+1 >= span.First:
		return Continues(after, span.Last, entries)
	default:
		return LifeOf(span.First) < timeOf(after)+lifetime && len(entries) > 0 && entries[0].Pos == span.First
	}
}

// Replays reports whether a replay (a subscription that is not live yet) that has every
// message up to position after can carry on with entries, read after after at time now
// from a history whose span is span. It is Follows, but for a history that is missing: a
// replay is never waited on, for it reads only because the live feed had gone past
// after (or the history had more than a queue), so there was a history, and it has
// expired since (or was lost).
//
// A replay may start before any life: a subscription that found its topic without
// history (EmptyAfter), whose live feed went into the next life before it could join
// the feed. It carries on into that life, from its first message, as the live feed did;
// Continues alone would refuse it, for the life does not begin at after+1.
func Replays(after uint64, span Span, entries []Entry, now, lifetime uint64) bool {
	return span.Last != 0 && Follows(after, span, entries, now, lifetime)
}

// Resume decides where a subscription from cursor c starts, from what a read found at
// time now (ms): the history's span, and its entries after c.ReadAfter(). It returns the
// position to start after, or false if c cannot be resumed (pubsub.ErrReset):
//
//   - a message's cursor resumes in its own life only, where Continues says;
//   - a cursor given out without history resumes into the life that came after it if
//     that life began less than a lifetime after the cursor and is whole, or, while the
//     topic still has no history, if less than a lifetime has passed (both: no other
//     life can have come and gone in between).
func Resume(c Cursor, span Span, entries []Entry, now, lifetime uint64) (uint64, bool) {
	if c.N > 0 {
		if span.Last == 0 || c.Life != LifeOf(span.First) || c.Pos()+1 < span.First {
			return 0, false
		}
		return c.Pos(), Continues(c.Pos(), span.Last, entries)
	}
	if c.Life > now+lifetime {
		return 0, false // from the future: not a cursor this broker gave out
	}
	if span.Last == 0 {
		return EmptyAfter(now, lifetime), now < c.Life+lifetime
	}
	// The life began after the cursor was given out (then there was no history), even if
	// a clock dates it earlier; the question is only whether another came and went first.
	whole := len(entries) > 0 && entries[0].Pos == span.First
	return span.First - 1, whole && LifeOf(span.First) < c.Life+lifetime
}
