package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// rush measures the fan-out cost of an RSVP rush with every change published, as before
// the coalescing of public attendance changes (issue 13) and the pacing of organisers'
// ones (issue 19), and with each, in one run: o.rushWatchers watchers on each of two
// events (one EXACT, one APPROXIMATE), then o.rushRSVPs RSVPs alternating between them,
// as fast as o.concurrency callers make them. It runs three times, on fresh events:
//
//   - every change: the watchers are organisers (the admin token), on a second rallyd
//     started with --organiser-interval=0, so that their history carries every RSVP
//     live, as every watcher's did before coalescing and pacing.
//   - paced: the watchers are organisers on the env's rallyd, which paces their
//     attendance changes in a rush (--organiser-interval, server/throttle.go).
//   - coalesced: the watchers are anonymous. The public history gets an attendance change
//     per event at most once per window (plus jitter), and only if the public view
//     changed.
//
// Each phase's CPU is taken from the first RSVP until the last coalescing window has
// fired (2 windows after the last RSVP) and every watcher has what it will get, in all
// phases alike. The watchers run in a child process (-rush-child), so this process's CPU
// is rallyd's and the RSVP callers'; the child's is reported apart.
func rush(ctx context.Context, e *env, o options, r *report) error {
	unpaced, err := e.startReplica(ctx, o, "--organiser-interval=0")
	if err != nil {
		return fmt.Errorf("every change (organisers): %w", err)
	}
	every, err := rushPhase(ctx, e, unpaced, o, rushEveryChange, 4_000_000)
	unpaced.close()
	if err != nil {
		return fmt.Errorf("every change (organisers): %w", err)
	}
	paced, err := rushPhase(ctx, e, e, o, rushPaced, 4_000_020)
	if err != nil {
		return fmt.Errorf("paced (organisers): %w", err)
	}
	coalesced, err := rushPhase(ctx, e, e, o, rushCoalesced, 4_000_010)
	if err != nil {
		return fmt.Errorf("coalesced (public): %w", err)
	}
	cpuRatio := div(coalesced.GoCPUus, every.GoCPUus)
	r.add(newFigure("7 RSVP rush: rallyd CPU per RSVP, coalesced / every change", cpuRatio, 0.5, true,
		fmt.Sprintf("%.0fµs vs %.0fµs; messages per RSVP %.2f vs %.0f; 2×%d watchers (EXACT, APPROXIMATE), %d RSVPs, window %v + jitter",
			coalesced.GoCPUus, every.GoCPUus, coalesced.MessagesPerRSVP, every.MessagesPerRSVP, o.rushWatchers, o.rushRSVPs, e.window)))
	excess, why := coalesced.excess(e.window)
	r.add(newFigure("7b RSVP rush: public messages coalescing should have prevented", float64(excess), 0, true, why))
	pacedRatio := div(paced.MessagesPerRSVP, every.MessagesPerRSVP)
	r.add(newFigure("7c RSVP rush: organisers' messages, paced / every change", pacedRatio, 0.1, true,
		fmt.Sprintf("%.2f vs %.0f per RSVP; rallyd CPU per RSVP %.0fµs vs %.0fµs, Redis %.0fµs vs %.0fµs",
			paced.MessagesPerRSVP, every.MessagesPerRSVP, paced.GoCPUus, every.GoCPUus, paced.RedisCPUus, every.RedisCPUus)))
	for _, p := range []rushResult{every, paced, coalesced} {
		r.note("7 rush, "+p.Audience, "%s", p)
	}
	r.Loads["rsvp_rush"] = map[string]any{
		"window_ms":              float64(e.window.Microseconds()) / 1000,
		"watchers_per_event":     o.rushWatchers,
		"rsvps":                  o.rushRSVPs,
		"every_change":           every,
		"organisers_paced":       paced,
		"paced_messages_ratio":   pacedRatio,
		"paced_go_cpu_ratio":     div(paced.GoCPUus, every.GoCPUus),
		"coalesced":              coalesced,
		"go_cpu_ratio":           cpuRatio,
		"redis_cpu_ratio":        div(coalesced.RedisCPUus, every.RedisCPUus),
		"messages_ratio":         div(coalesced.MessagesPerRSVP, every.MessagesPerRSVP),
		"public_excess_messages": excess,
	}
	return nil
}

// rushResult is one phase of the rush.
type rushResult struct {
	Audience        string  `json:"audience"`
	Watchers        int     `json:"watchers"` // both events
	RSVPs           int     `json:"rsvps"`
	Messages        int64   `json:"messages"` // attendance changes received, all watchers
	MessagesPerRSVP float64 `json:"messages_per_rsvp"`
	// CPU per RSVP: this process (rallyd and the RSVP callers), redis-server, and the
	// watchers' process.
	GoCPUus       float64 `json:"go_cpu_us_per_rsvp"`
	RedisCPUus    float64 `json:"redis_cpu_us_per_rsvp"`
	WatchersCPUus float64 `json:"watchers_cpu_us_per_rsvp"`
	RSVPsPerSec   float64 `json:"rsvps_per_sec"`
	// IdleCPUusPerSec: this process's CPU per second with the watchers connected and no
	// RSVPs, measured just before the rush.
	IdleCPUusPerSec float64 `json:"idle_go_cpu_us_per_sec"`
	// DeliveredSeconds: from the first RSVP until every watcher had every change
	// (organisers) or the EXACT event's final count (public); MeasuredSeconds: the CPU
	// measurement, until all was quiet.
	DeliveredSeconds float64           `json:"delivered_seconds"`
	MeasuredSeconds  float64           `json:"measured_seconds"`
	Events           []rushEventReport `json:"events"`
}

func (p rushResult) String() string {
	s := fmt.Sprintf("%d watchers, %d RSVPs at %.0f/s: %d messages (%.2f per RSVP); CPU per RSVP %.0fµs rallyd, %.0fµs Redis, %.0fµs watchers; all delivered after %.2fs, measured %.2fs (idle: %.0fµs of rallyd CPU a second)",
		p.Watchers, p.RSVPs, p.RSVPsPerSec, p.Messages, p.MessagesPerRSVP, p.GoCPUus, p.RedisCPUus, p.WatchersCPUus, p.DeliveredSeconds, p.MeasuredSeconds, p.IdleCPUusPerSec)
	for _, ev := range p.Events {
		s += fmt.Sprintf("\n%s (%d RSVPs): %d..%d messages per watcher", ev.Visibility, ev.RSVPs, ev.MinPerWatcher, ev.MaxPerWatcher)
		if ev.Publishes > 0 {
			s += fmt.Sprintf(", %d publications, gaps %s ms", ev.Publishes, gaps(ev.GapsMs))
		}
		if ev.Unchanged+ev.Resets+ev.Other > 0 {
			s += fmt.Sprintf(", %d unchanged, %d reset snapshots, %d other", ev.Unchanged, ev.Resets, ev.Other)
		}
	}
	return s
}

func gaps(ms []float64) string {
	parts := make([]string, len(ms))
	for i, v := range ms {
		parts[i] = strconv.FormatFloat(v, 'f', 0, 64)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// excess counts the public messages that coalescing should have prevented: ones that
// left the watcher's view as it was, more messages to a watcher than there were
// publications, and publications closer than one window (with 10% for the time the
// publishing replica takes to read the event).
func (p rushResult) excess(window time.Duration) (int64, string) {
	var unchanged, extra, close int64
	for _, ev := range p.Events {
		unchanged += ev.Unchanged
		extra += max(0, ev.MaxPerWatcher-int64(ev.Publishes))
		for _, g := range ev.GapsMs {
			if g < 0.9*float64(window.Milliseconds()) {
				close++
			}
		}
	}
	return unchanged + extra + close, fmt.Sprintf("%d unchanged views, %d messages beyond the publications, %d publications closer than the window",
		unchanged, extra, close)
}

// rushChildReport is what the watchers' process reports on each "report" line.
type rushChildReport struct {
	CPUus  float64           `json:"cpu_us"` // the watchers' process so far
	Events []rushEventReport `json:"events"`
}

// rushEventReport is what the watchers of one event received (apart from the snapshot
// each stream starts with).
type rushEventReport struct {
	Visibility    string `json:"visibility"`
	RSVPs         int    `json:"rsvps"`
	Messages      int64  `json:"messages"` // attendance changes, all watchers
	MinPerWatcher int64  `json:"min_per_watcher"`
	MaxPerWatcher int64  `json:"max_per_watcher"`
	// Unchanged: attendance changes that showed a watcher the attendance it had already
	// (expected for organisers, whose changes render the state when delivered: a later
	// RSVP may already show; public ones should never).
	Unchanged int64 `json:"unchanged"`
	Resets    int64 `json:"reset_snapshots"`
	Other     int64 `json:"other_messages"`
	MinGoing  int32 `json:"min_going"` // the least count any watcher has last seen
	// Publications of the public history that reached the watchers (distinct cursors),
	// and the gaps between their change times; not kept for organisers.
	Publishes int       `json:"publications"`
	GapsMs    []float64 `json:"gaps_ms,omitempty"`
}

// rushKind is what a phase of the rush measures.
type rushKind int

const (
	rushEveryChange rushKind = iota // organisers, every RSVP's change
	rushPaced                       // organisers, paced
	rushCoalesced                   // the public
)

func (k rushKind) String() string {
	switch k {
	case rushEveryChange:
		return "organisers"
	case rushPaced:
		return "organisers, paced"
	}
	return "public"
}

// rushPhase runs one phase: its events and watchers on the env's Redis, the watchers and
// RSVPs on target.
func rushPhase(ctx context.Context, e *env, target rallyd, o options, kind rushKind, first int) (rushResult, error) {
	var res rushResult
	var events []string
	for i, vis := range []rallyv1.AttendanceVisibility{rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE} {
		names, err := e.createEventsShowing(ctx, first+i, 1, 0, vis)
		if err != nil {
			return res, err
		}
		events = append(events, names[0])
	}
	exe, err := os.Executable()
	if err != nil {
		return res, err
	}
	conns := max(10, (len(events)*o.rushWatchers+499)/500) // rallyd allows 1000 streams a connection
	args := []string{"-rush-child", "-watch-addr", target.grpcAddr(), "-watch-event", strings.Join(events, ","),
		"-watchers", strconv.Itoa(o.rushWatchers), "-concurrency", strconv.Itoa(conns)}
	res.Audience = kind.String()
	if kind != rushCoalesced {
		args = append(args, "-watch-admin")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	if !lines.Scan() || lines.Text() != "ready" {
		return res, fmt.Errorf("watcher process: %q, want ready: %v", lines.Text(), lines.Err())
	}
	report := func() (rushChildReport, error) {
		var rep rushChildReport
		if _, err := io.WriteString(stdin, "report\n"); err != nil {
			return rep, err
		}
		if !lines.Scan() {
			return rep, fmt.Errorf("watcher process ended: %v", lines.Err())
		}
		return rep, json.Unmarshal(lines.Bytes(), &rep)
	}
	before, err := report()
	if err != nil {
		return res, err
	}

	// What rallyd spends with the watchers connected and nothing happening, for scale:
	// the measurement below includes the wait for the last window.
	const idleFor = 500 * time.Millisecond
	idle := processCPU()
	time.Sleep(idleFor)
	res.IdleCPUusPerSec = (processCPU() - idle).Seconds() * 1e6 / idleFor.Seconds()

	perEvent := []int{(o.rushRSVPs + 1) / 2, o.rushRSVPs / 2}
	goBefore, redisBefore := processCPU(), e.redisCPU(ctx)
	t0 := time.Now()
	err = parallel(ctx, o.rushRSVPs, o.concurrency, func(ctx context.Context, i int) error {
		_, err := target.rsvps(i).CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: events[i%2], Rsvp: &rallyv1.Rsvp{}})
		return err
	})
	if err != nil {
		return res, fmt.Errorf("CreateRsvp: %w", err)
	}
	rushed := time.Since(t0)
	// Every window is closed 2 windows after the last RSVP (window plus up to one window
	// of jitter); then wait until every watcher has what it should get and the counts
	// stand still. Organisers, every change: one message per RSVP (a message shows the
	// event as it is when delivered, so the final count alone says nothing). Paced: the
	// final count of both events (organisers see counts). Public: the final count of the
	// EXACT event (the APPROXIMATE one shows a bucket, and its last window may change
	// nothing).
	quiet := t0.Add(rushed + 2*e.window + 300*time.Millisecond)
	deadline := quiet.Add(5 * time.Minute)
	var delivered time.Duration
	var prev, rep rushChildReport
	for {
		time.Sleep(50 * time.Millisecond)
		if rep, err = report(); err != nil {
			return res, err
		}
		done := rep.Events[0].MinGoing == int32(perEvent[0])
		switch kind {
		case rushEveryChange:
			done = rep.Events[0].MinPerWatcher >= int64(perEvent[0]) && rep.Events[1].MinPerWatcher >= int64(perEvent[1])
		case rushPaced:
			done = done && rep.Events[1].MinGoing == int32(perEvent[1])
		}
		if done && delivered == 0 {
			delivered = time.Since(t0)
		}
		if done && time.Now().After(quiet) && sameCounts(prev, rep) {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the watchers did not get what they should within 5 minutes (RSVPs %v): %+v", perEvent, rep.Events)
		}
		prev = rep
	}
	measured := time.Since(t0)
	goCPU, redisCPU := processCPU()-goBefore, e.redisCPU(ctx)-redisBefore

	n := float64(o.rushRSVPs)
	res.Watchers, res.RSVPs = len(events)*o.rushWatchers, o.rushRSVPs
	res.GoCPUus = goCPU.Seconds() * 1e6 / n
	res.RedisCPUus = redisCPU.Seconds() * 1e6 / n
	res.WatchersCPUus = (rep.CPUus - before.CPUus) / n
	res.RSVPsPerSec = n / rushed.Seconds()
	res.DeliveredSeconds, res.MeasuredSeconds = delivered.Seconds(), measured.Seconds()
	res.Events = rep.Events
	for i := range res.Events {
		res.Events[i].RSVPs = perEvent[i]
		res.Messages += res.Events[i].Messages
	}
	res.MessagesPerRSVP = float64(res.Messages) / n
	return res, nil
}

func sameCounts(a, b rushChildReport) bool {
	return slices.EqualFunc(a.Events, b.Events, func(x, y rushEventReport) bool {
		return x.Messages == y.Messages && x.Resets == y.Resets && x.Other == y.Other && x.MinGoing == y.MinGoing
	})
}

// attendanceView is what a watcher sees of an event's attendance.
type attendanceView struct {
	going, waitlisted           int32
	goingRange, waitlistedRange string
}

func viewOf(e *rallyv1.Event) attendanceView {
	a := e.GetAttendance()
	return attendanceView{a.GetGoing(), a.GetWaitlisted(), a.GetGoingRange(), a.GetWaitlistedRange()}
}

// rushWatcher is one stream's tally.
type rushWatcher struct {
	msgs, unchanged, resets, other atomic.Int64
	going                          atomic.Int32
}

// rushEvent is the tally of one event's watchers.
type rushEvent struct {
	visibility string
	watchers   []*rushWatcher
	mu         sync.Mutex
	published  map[string]time.Time // cursor → change time, public watchers only
}

// rushChild is the watchers' process of the rush: o.watchers WatchEvent streams on each
// of the events in o.watchEvent (comma-separated) over o.concurrency connections, as the
// admin with -watch-admin. It prints "ready" once every stream has its snapshot, then a
// rushChildReport as one JSON line for each "report" line on its standard input, and
// exits when that closes.
func rushChild(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wctx := ctx
	if o.watchAdmin {
		wctx = admin(ctx)
	}
	var conns []*grpc.ClientConn
	for range o.concurrency {
		c, err := grpc.NewClient(o.watchAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer c.Close()
		conns = append(conns, c)
	}
	names := strings.Split(o.watchEvent, ",")
	events := make([]*rushEvent, len(names))
	errs := make(chan error, len(names)*o.watchers)
	var ready sync.WaitGroup
	for k, name := range names {
		ev := &rushEvent{published: map[string]time.Time{}}
		events[k] = ev
		for i := range o.watchers {
			w := new(rushWatcher)
			ev.watchers = append(ev.watchers, w)
			ready.Add(1)
			go func() {
				client := rallyv1.NewEventServiceClient(conns[(k*o.watchers+i)%len(conns)])
				s, err := client.WatchEvent(wctx, &rallyv1.WatchEventRequest{Name: name})
				var snap *rallyv1.Change
				if err == nil {
					snap, err = s.Recv()
				}
				if err == nil && i == 0 {
					ev.visibility = strings.TrimPrefix(snap.GetEvent().GetAttendanceVisibility().String(), "ATTENDANCE_VISIBILITY_")
				}
				ready.Done()
				if err != nil {
					errs <- err
					return
				}
				last := viewOf(snap.GetEvent())
				w.going.Store(last.going)
				for {
					c, err := s.Recv()
					if err != nil {
						if ctx.Err() == nil {
							errs <- err
						}
						return
					}
					switch c.GetKind() {
					case rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT:
						w.resets.Add(1)
					case rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE:
						w.msgs.Add(1)
					default:
						w.other.Add(1)
						continue
					}
					v := viewOf(c.GetEvent())
					if v == last && c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE {
						w.unchanged.Add(1)
					}
					last = v
					w.going.Store(v.going)
					if !o.watchAdmin && c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE {
						ev.mu.Lock()
						if _, ok := ev.published[c.GetCursor()]; !ok {
							ev.published[c.GetCursor()] = c.GetChangeTime().AsTime()
						}
						ev.mu.Unlock()
					}
				}
			}()
		}
	}
	ready.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("watch: %w", err)
	default:
	}
	for k, ev := range events { // the snapshot of the first watcher names the visibility
		if ev.visibility == "" {
			ev.visibility = strconv.Itoa(k)
		}
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	go func() {
		err := <-errs
		fmt.Fprintln(os.Stderr, "rallybench rush watcher:", err)
		os.Exit(1)
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		rep := rushChildReport{CPUus: processCPU().Seconds() * 1e6}
		for _, ev := range events {
			er := rushEventReport{Visibility: ev.visibility, MinPerWatcher: -1, MinGoing: -1}
			for _, w := range ev.watchers {
				m := w.msgs.Load()
				er.Messages += m
				er.MaxPerWatcher = max(er.MaxPerWatcher, m)
				if er.MinPerWatcher < 0 || m < er.MinPerWatcher {
					er.MinPerWatcher = m
				}
				if g := w.going.Load(); er.MinGoing < 0 || g < er.MinGoing {
					er.MinGoing = g
				}
				er.Unchanged += w.unchanged.Load()
				er.Resets += w.resets.Load()
				er.Other += w.other.Load()
			}
			ev.mu.Lock()
			times := make([]time.Time, 0, len(ev.published))
			for _, t := range ev.published {
				times = append(times, t)
			}
			ev.mu.Unlock()
			slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
			er.Publishes = len(times)
			for i := 1; i < len(times); i++ {
				er.GapsMs = append(er.GapsMs, ms(times[i].Sub(times[i-1])))
			}
			rep.Events = append(rep.Events, er)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		out.Write(append(b, '\n'))
		out.Flush()
	}
	cancel() // before the connections close, so that no stream reports an error
	return nil
}
