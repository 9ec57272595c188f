package e2e_test

import (
	"testing"

	"github.com/rallyhq/rally/internal/redistest"
)

// TestCluster runs two rallyd replicas on a three-master Redis Cluster through its
// redis+cluster:// URL: events, their RSVPs and their change streams spread over the
// nodes, the change channel is on one of them, and the indexes on another. The subtests
// share the Cluster (it takes seconds to form), each under a key prefix of its own.
func TestCluster(t *testing.T) {
	t.Parallel()
	url := redistest.StartCluster(t).URL()
	t.Run("WatchAcrossReplicas", func(t *testing.T) {
		t.Parallel()
		testWatchAcrossReplicas(t, url, "--redis-prefix=watch:")
	})
	t.Run("RSVPsAcrossReplicas", func(t *testing.T) {
		t.Parallel()
		testRSVPsAcrossReplicas(t, url, "--redis-prefix=rsvps:")
	})
	t.Run("InformantWatchers", func(t *testing.T) {
		t.Parallel()
		testInformantWatchers(t, url, "--redis-prefix=informant:")
	})
	t.Run("RightsEndOnStreams", func(t *testing.T) {
		t.Parallel()
		testRightsEndOnStreams(t, url, "--redis-prefix=rights:")
	})
}

// TestSentinel runs rallyd on a master that it finds through Sentinel, from a
// redis+sentinel:// URL: the store, the change broker (whose subscription also goes to
// the master) and two replicas watching each other.
func TestSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	t.Run("REST", func(t *testing.T) {
		t.Parallel()
		a := startApp(t, s.URL(), "--redis-prefix=rest:")
		testRESTLifecycle(t, client{t: t, base: "http://" + a.HTTPAddr()})
		n, err := s.Master().Client().Exists(t.Context(), "rest:{cp:kz-solidarity}").Result()
		if err != nil || n != 1 {
			t.Errorf("the campaign is not on the master: %d, %v", n, err)
		}
	})
	t.Run("WatchAcrossReplicas", func(t *testing.T) {
		t.Parallel()
		testWatchAcrossReplicas(t, s.URL(), "--redis-prefix=watch:")
	})
}
