package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
)

// gather returns the value of every series of g, keyed by name and label values, such as
// "rally_rsvps_total{waitlisted}".
func gather(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			if len(m.GetLabel()) > 0 {
				key += "{"
				for i, l := range m.GetLabel() {
					if i > 0 {
						key += ","
					}
					key += l.GetValue()
				}
				key += "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			default:
				out[key] = 0
			}
		}
	}
	return out
}

// Code built without metrics calls a nil *Metrics.
func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.RSVP(RSVPGoing)
	m.Claim(ClaimClaimed)
	m.WatchDropped(WatchEvent)
	m.WatchOpened(WatchCampaign)()
	if m.UnaryServerInterceptor() == nil || m.StreamServerInterceptor() == nil {
		t.Error("a nil *Metrics has no interceptors")
	}
}

func TestCounters(t *testing.T) {
	m := New()
	m.RSVP(RSVPWaitlisted)
	m.RSVP(RSVPOutcome{}) // no outcome: not counted
	m.Claim(ClaimFull)
	m.WatchDropped(WatchCampaign)
	closed := m.WatchOpened(WatchEvent)
	got := gather(t, m.registry)
	for key, want := range map[string]float64{
		"rally_rsvps_total{waitlisted}":          1,
		"rally_rsvps_total{going}":               0,
		"rally_claims_total{full}":               1,
		"rally_watch_streams{event}":             1,
		"rally_watch_slow_drops_total{campaign}": 1,
		"rally_watch_slow_drops_total{event}":    0,
		"rally_rsvps_total{}":                    -1, // the zero outcome has no series
		"rally_rsvps_total{too_many_guests}":     0,
		"rally_claims_total{not_open}":           0,
		"rally_watch_streams{campaign}":          0,
	} {
		v, ok := got[key]
		if want < 0 {
			if ok {
				t.Errorf("%s exists", key)
			}
			continue
		}
		if !ok || v != want {
			t.Errorf("%s = %v (exists: %v), want %v", key, v, ok, want)
		}
	}
	closed()
	if v := gather(t, m.registry)["rally_watch_streams{event}"]; v != 0 {
		t.Errorf("open event watches after closing = %v, want 0", v)
	}
}

type fakePool goredis.PoolStats

func (f *fakePool) PoolStats() *goredis.PoolStats { return (*goredis.PoolStats)(f) }

func TestRedisPoolCollector(t *testing.T) {
	pool := &fakePool{Hits: 7, Misses: 2, Timeouts: 1, StaleConns: 3, TotalConns: 5, IdleConns: 4, WaitCount: 6, WaitDurationNs: 1.5e9}
	m := New(NewRedisPoolCollector(pool)) // beside the others, without a clash of names
	got := gather(t, m.registry)
	for key, want := range map[string]float64{
		"rally_redis_pool_hits_total":              7,
		"rally_redis_pool_misses_total":            2,
		"rally_redis_pool_timeouts_total":          1,
		"rally_redis_pool_waits_total":             6,
		"rally_redis_pool_wait_seconds_total":      1.5,
		"rally_redis_pool_stale_connections_total": 3,
		"rally_redis_pool_connections":             5,
		"rally_redis_pool_idle_connections":        4,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (exists: %v), want %v", key, v, ok, want)
		}
	}
	pool.Hits = 9 // read at each scrape
	if v := gather(t, m.registry)["rally_redis_pool_hits_total"]; v != 9 {
		t.Errorf("rally_redis_pool_hits_total after more hits = %v, want 9", v)
	}
}
