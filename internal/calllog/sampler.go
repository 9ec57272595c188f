package calllog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Sampler lets through at most burst lines per interval for each key, and logs one
// summary line for each interval in which it held lines back.
//
// It is written here rather than taken from a library: zap's sampler would mean a second
// logging stack beside log/slog, slog-sampling is not among the modules this project may
// use, and golang.org/x/time/rate gives a token bucket but not the count of what it
// refused, which the summary line needs. A fixed window per key is a few lines.
type Sampler struct {
	log     *slog.Logger
	burst   int
	every   time.Duration
	summary string

	mu      sync.Mutex
	windows map[string]*window
}

// window is one key's current interval.
type window struct {
	start      time.Time
	logged     int
	suppressed int
	level      slog.Level // of the lines held back: the summary's
	attrs      []any      // what the key stands for, for the summary
}

// NewSampler returns a sampler that logs its summaries to log, as "N <summary>".
func NewSampler(log *slog.Logger, burst int, every time.Duration, summary string) *Sampler {
	return &Sampler{log: log, burst: burst, every: every, summary: summary, windows: map[string]*window{}}
}

// Allow reports whether a line of key at level may be logged now. attrs describe the key
// in the summary line. The caller keeps the set of keys small (method and code, not
// anything a client chose): each key holds a few words of memory until its window ends.
func (s *Sampler) Allow(key string, level slog.Level, attrs ...any) bool {
	now := time.Now()
	s.mu.Lock()
	w := s.windows[key]
	if w != nil && now.Sub(w.start) >= s.every {
		// The window ended and its timer has not fired yet: summarise it now.
		delete(s.windows, key)
		s.mu.Unlock()
		s.summarise(w)
		s.mu.Lock()
		w = s.windows[key] // another call may have started the next window meanwhile
	}
	if w == nil {
		w = &window{start: now}
		s.windows[key] = w
	}
	if w.logged < s.burst {
		w.logged++
		s.mu.Unlock()
		return true
	}
	w.suppressed++
	w.level = max(w.level, level)
	if w.suppressed == 1 {
		w.level, w.attrs = level, attrs
		// The summary comes when the window ends, whether or not another line of the
		// key follows: a flood that stops must still be reported.
		time.AfterFunc(w.start.Add(s.every).Sub(now), func() { s.expire(key, w) })
	}
	s.mu.Unlock()
	return false
}

// expire ends w, the window of key, if it is still current, and summarises it.
func (s *Sampler) expire(key string, w *window) {
	s.mu.Lock()
	if s.windows[key] != w {
		s.mu.Unlock()
		return // already summarised by Allow
	}
	delete(s.windows, key)
	s.mu.Unlock()
	s.summarise(w)
}

// summarise logs the summary of an ended window, if it held lines back. Only the goroutine
// that removed w from the map calls it, so w is no longer shared.
func (s *Sampler) summarise(w *window) {
	if w.suppressed == 0 {
		return
	}
	s.log.Log(context.Background(), w.level, fmt.Sprintf("%d %s", w.suppressed, s.summary),
		append(w.attrs[:len(w.attrs):len(w.attrs)], "suppressed", w.suppressed, "interval", s.every.String())...)
}
