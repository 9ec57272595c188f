package e2e_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// aofRedis is a redis-server persisting every write before it answers (appendonly yes,
// appendfsync always), in the test's own directory, that the test can kill -9 and start
// again on the same data.
type aofRedis struct {
	dir, socket string
	cmd         *exec.Cmd
}

func startAOFRedis(t *testing.T, r *aofRedis) {
	t.Helper()
	if r.dir == "" {
		r.dir = t.TempDir()
		r.socket = filepath.Join(r.dir, "redis.sock")
	}
	r.cmd = exec.Command("redis-server", "--port", "0", "--unixsocket", r.socket, "--unixsocketperm", "700",
		"--dir", r.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() { r.kill() })
	c := goredis.NewClient(&goredis.Options{Network: "unix", Addr: r.socket})
	defer c.Close()
	eventually(t, 10*time.Second, "redis-server answers", func() bool { return c.Ping(t.Context()).Err() == nil })
}

// kill stops the server as a crash would: SIGKILL, no chance to flush anything.
func (r *aofRedis) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// TestAcknowledgedRSVPsSurviveACrash: Redis with appendfsync always is killed (-9) under
// RSVP load and started again on its files. Every RSVP that rallyd acknowledged is there,
// the counts equal the records, and no event is above its capacity.
func TestAcknowledgedRSVPsSurviveACrash(t *testing.T) {
	t.Parallel()
	rd := &aofRedis{}
	startAOFRedis(t, rd)
	a := startApp(t, "unix://"+rd.socket)
	r := dialReplica(t, a)
	admin := withToken(t.Context(), token)

	const events, capacity = 10, 10
	names := make([]string, events)
	for i := range names {
		ev := eventIn("")
		ev.Capacity = capacity
		e, err := r.events.CreateEvent(admin, &rallyv1.CreateEventRequest{Event: ev})
		if err != nil {
			t.Fatal(err)
		}
		names[i] = e.GetName()
	}

	var firstErr error
	var mu sync.Mutex
	acked := map[string]string{} // RSVP name → event
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				event := names[(w+i)%events]
				callCtx, cancel := context.WithTimeout(ctx, time.Second)
				resp, err := r.rsvps.CreateRsvp(callCtx, &rallyv1.CreateRsvpRequest{Parent: event, Rsvp: &rallyv1.Rsvp{}, RequestId: fmt.Sprintf("crash-w%02d-%012d", w, i)})
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked[resp.GetRsvp().GetName()] = event
				mu.Unlock()
			}
		}()
	}
	eventually(t, 10*time.Second, "RSVPs acknowledged before the crash", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 100 && firstErr != nil {
			t.Fatalf("an RSVP failed before the crash: %v", firstErr)
		}
		return len(acked) >= 100
	})
	rd.kill()
	time.Sleep(200 * time.Millisecond) // the load runs on against a dead Redis
	stop()
	wg.Wait()
	t.Logf("%d RSVPs acknowledged before the crash", len(acked))

	startAOFRedis(t, rd)
	eventually(t, 10*time.Second, "rallyd serves again", func() bool {
		_, err := r.events.GetEvent(t.Context(), &rallyv1.GetEventRequest{Name: names[0]})
		return err == nil
	})
	stored := map[string]bool{}
	for _, name := range names {
		var going, waitlisted int32
		q := &rallyv1.ListRsvpsRequest{Parent: name, PageSize: 1000}
		for {
			page, err := r.rsvps.ListRsvps(admin, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, rs := range page.GetRsvps() {
				stored[rs.GetName()] = true
				switch rs.GetState() {
				case rallyv1.RsvpState_RSVP_STATE_GOING:
					going += 1 + rs.GetGuests()
				case rallyv1.RsvpState_RSVP_STATE_WAITLISTED:
					waitlisted += 1 + rs.GetGuests()
				}
			}
			if q.PageToken = page.GetNextPageToken(); q.PageToken == "" {
				break
			}
		}
		e, err := r.events.GetEvent(admin, &rallyv1.GetEventRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if at := e.GetAttendance(); at.GetGoing() != going || at.GetWaitlisted() != waitlisted {
			t.Errorf("%s: counts %d going, %d waitlisted; records %d, %d", name, at.GetGoing(), at.GetWaitlisted(), going, waitlisted)
		}
		if going > capacity {
			t.Errorf("%s: %d going, above its capacity of %d", name, going, capacity)
		}
	}
	for rsvp, event := range acked {
		if !stored[rsvp] {
			t.Errorf("acknowledged RSVP %s of %s lost in the crash", rsvp, event)
		}
	}
}
