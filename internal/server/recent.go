package server

import (
	"sync"
	"sync/atomic"
)

// recent computes a value once per key for everyone who asks at about the same time, and
// remembers the last few: when a change reaches thousands of watchers, the state it
// renders is read and shaped once per replica, not once per watcher, including for the
// watchers that get to the message a little later than the others (which a
// singleflight alone would read again). Values must not be modified by the callers.
type recent struct {
	mu    sync.Mutex
	max   int
	vals  map[string]*recentValue
	order []string // keys in insertion order, oldest first
}

type recentValue struct {
	done chan struct{} // closed when v and err are set
	v    any
	err  error
}

func newRecent(max int) *recent { return &recent{max: max, vals: map[string]*recentValue{}} }

// Do returns the value for key, computing it with fn if nobody has or is. Errors are
// returned to those waiting but not remembered, so the next caller tries again.
func (r *recent) Do(key string, fn func() (any, error)) (any, error) {
	r.mu.Lock()
	if v, ok := r.vals[key]; ok {
		r.mu.Unlock()
		<-v.done
		return v.v, v.err
	}
	v := &recentValue{done: make(chan struct{})}
	r.vals[key] = v
	r.order = append(r.order, key)
	if len(r.order) > r.max {
		delete(r.vals, r.order[0])
		r.order = append(r.order[:0], r.order[1:]...)
	}
	r.mu.Unlock()

	v.v, v.err = fn()
	close(v.done)
	if v.err != nil {
		r.mu.Lock()
		if r.vals[key] == v {
			delete(r.vals, key)
		}
		r.mu.Unlock()
	}
	return v.v, v.err
}

// latest remembers the last value recent computed under one key, made of two parts: the
// watchers of a message ask for the same value one after another, thousands of them from
// every core, and find it here without building the key (an allocation) or taking
// recent's lock. A key asked for after another one was stored goes to recent, which
// stores it here in turn. Its values, like recent's, must not be modified.
type latest[T any] struct {
	p atomic.Pointer[latestValue[T]]
}

type latestValue[T any] struct {
	a, b string
	v    T
}

// get returns the value stored under (a, b), if it is the latest.
func (l *latest[T]) get(a, b string) (T, bool) {
	if p := l.p.Load(); p != nil && p.b == b && p.a == a {
		return p.v, true
	}
	var zero T
	return zero, false
}

func (l *latest[T]) set(a, b string, v T) {
	l.p.Store(&latestValue[T]{a: a, b: b, v: v})
}
