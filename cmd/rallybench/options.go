package main

import (
	"flag"
	"time"
)

// options are the benchmark's sizes; -smoke picks small ones.
type options struct {
	smoke         bool
	duration      time.Duration // each throughput measurement
	concurrency   int
	grpcConns     int // gRPC connections the loads share (0: one per caller)
	rounds        int // turns the throughput loads take (see interleaved)
	events        int // events the creates are spread over
	smallEvents   int // stored events for the read baseline
	largeEvents   int // stored events for the read measurement
	samples       int // latency samples per read kind
	watchers      int
	watchRounds   int
	creates       int           // creates counted for the Redis commands per create
	rushWatchers  int           // watchers of each of the RSVP rush's two events
	rushRSVPs     int           // RSVPs of the rush, over both events
	window        time.Duration // rallyd's --attendance-window (0: its default)
	jsonPath      string
	redisServer   string
	cpuProfile    string         // pprof CPU profile of the gRPC CreateRsvp load (rallyd and the load generator)
	restProfile   string         // the same for the REST CreateRsvp load
	fanoutProfile string         // the same for the fan-out rounds
	only          string         // run only the steps whose names contain this
	machine       machineOptions // cores, redis-server's CPUs and profiles (machine.go)

	conn connOptions // the fan-out over real connections (connfanout.go)

	// set in the watcher child process
	watchChild bool
	rushChild  bool
	watchAddr  string
	watchEvent string // comma-separated for -rush-child
	watchAdmin bool
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("rallybench", flag.ContinueOnError)
	fs.BoolVar(&o.smoke, "smoke", false, "small sizes (about 30s): 10,000 events, 500 watchers, 2s loads")
	fs.DurationVar(&o.duration, "duration", 0, "length of each throughput measurement (default 10s, smoke 2s)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent callers in the throughput loads")
	fs.IntVar(&o.grpcConns, "grpc-conns", 0, "gRPC connections the callers share (default one per caller, as the REST load has and as phones have; 4 before issue 19)")
	fs.IntVar(&o.rounds, "rounds", 0, "turns the throughput loads take, sharing the duration (default 5, smoke 2)")
	fs.IntVar(&o.events, "events", 200, "events of unlimited capacity the creates are spread over")
	fs.IntVar(&o.smallEvents, "small-events", 1000, "stored events for the read baseline")
	fs.IntVar(&o.largeEvents, "large-events", 0, "stored events for the read measurement (default 100,000, smoke 10,000)")
	fs.IntVar(&o.samples, "samples", 0, "latency samples per read kind and size (default 2000, smoke 500)")
	fs.IntVar(&o.watchers, "watchers", 0, "WatchEvent streams on one event (default 10,000, smoke 500)")
	fs.IntVar(&o.watchRounds, "watch-rounds", 20, "CreateRsvp calls timed to all watchers")
	fs.IntVar(&o.creates, "creates", 1000, "sequential creates counted for Redis commands per create")
	fs.IntVar(&o.rushWatchers, "rush-watchers", 0, "RSVP rush: watchers of each of its two events, EXACT and APPROXIMATE (default 1000, smoke 100)")
	fs.IntVar(&o.rushRSVPs, "rush-rsvps", 0, "RSVP rush: RSVPs, alternating between the two events (default 2000, smoke 200)")
	fs.DurationVar(&o.window, "attendance-window", 0, "rallyd's --attendance-window, how long public attendance changes are coalesced (default rallyd's own, 2s; smoke 250ms)")
	fs.StringVar(&o.jsonPath, "json", "rallybench.json", "where to write the results as JSON (empty: nowhere)")
	fs.StringVar(&o.redisServer, "redis-server", "redis-server", "redis-server binary")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the gRPC CreateRsvp load (rallyd and the load generator share the process) to this file")
	fs.StringVar(&o.restProfile, "restprofile", "", "write a pprof CPU profile of the REST CreateRsvp load to this file")
	fs.StringVar(&o.fanoutProfile, "fanoutprofile", "", "write a pprof CPU profile of the fan-out rounds to this file")
	fs.StringVar(&o.only, "only", "", "run only the steps whose names contain this (e.g. throughput, reads, fan-out, correctness)")
	fs.BoolVar(&o.watchChild, "watch-child", false, "internal: run the watchers of the fan-out measurement")
	fs.BoolVar(&o.rushChild, "rush-child", false, "internal: run the watchers of the RSVP rush")
	fs.StringVar(&o.watchAddr, "watch-addr", "", "internal: gRPC address for -watch-child and -rush-child")
	fs.StringVar(&o.watchEvent, "watch-event", "", "internal: event for -watch-child, events (comma-separated) for -rush-child")
	fs.BoolVar(&o.watchAdmin, "watch-admin", false, "internal: the child's watchers hold the admin token (organisers' history)")
	o.machine.flags(fs)
	o.conn.flags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	def := func(v *int, full, smoke int) {
		if *v == 0 {
			*v = full
			if o.smoke {
				*v = smoke
			}
		}
	}
	def(&o.largeEvents, 100000, 10000)
	def(&o.samples, 2000, 500)
	def(&o.watchers, 10000, 500)
	def(&o.rounds, 5, 2)
	def(&o.rushWatchers, 1000, 100)
	def(&o.rushRSVPs, 2000, 200)
	o.conn.defaults(o.smoke)
	if o.window == 0 && o.smoke {
		o.window = 250 * time.Millisecond
	}
	if o.duration == 0 {
		o.duration = 10 * time.Second
		if o.smoke {
			o.duration = 2 * time.Second
		}
	}
	return o, nil
}
