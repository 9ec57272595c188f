package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
)

// machineOptions say how the benchmark uses a machine (issue 19): how many cores rallyd
// and the load generator get (they share this process), where redis-server runs, and
// which profiles the throughput loads leave behind. On a bigger machine, run the static
// build (make bench-static) as docs/performance.md shows:
//
//	taskset -c 0-13 bin/rallybench -redis-cpus 15
type machineOptions struct {
	procs       int    // GOMAXPROCS of this process; 0: the Go runtime's choice
	redisCPUs   string // taskset CPU list for redis-server; "": wherever this process runs
	profileDir  string // CPU and allocation profiles of each throughput load
	profileRate int    // runtime.MemProfileRate while the allocation profiles are taken
}

func (m *machineOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&m.procs, "procs", 0, "GOMAXPROCS of rallyd and the load generator, which share this process (default: the Go runtime's, the CPUs this process may run on, e.g. under taskset)")
	fs.StringVar(&m.redisCPUs, "redis-cpus", "", "pin redis-server to these CPUs (a taskset list such as 15 or 14,15; needs taskset); pin rallyd and the load apart with taskset -c on this program")
	fs.StringVar(&m.profileDir, "profiles", "", "write pprof CPU and allocation profiles of each throughput load (health, grpc, rest) into this directory")
	fs.IntVar(&m.profileRate, "memprofilerate", 4096, "runtime.MemProfileRate for the -profiles allocation profiles (bytes between samples)")
}

// apply sets what the options set for the whole process.
func (m *machineOptions) apply() error {
	if m.procs > 0 {
		runtime.GOMAXPROCS(m.procs)
	}
	if m.profileDir != "" {
		if err := os.MkdirAll(m.profileDir, 0o755); err != nil {
			return err
		}
		memProfileRate = m.profileRate
	}
	return nil
}

// describe is the machine as the report gives it.
func (m *machineOptions) describe() string {
	s := fmt.Sprintf("GOMAXPROCS %d, %d CPUs this process may run on", runtime.GOMAXPROCS(0), runtime.NumCPU())
	if m.redisCPUs != "" {
		s += ", redis-server on CPUs " + m.redisCPUs
	}
	return s
}

// redisCommand is redis-server with args, pinned to -redis-cpus when set. taskset rather
// than sched_setaffinity from Go: the latter pins one thread of this process, not a child.
func (m *machineOptions) redisCommand(bin string, args ...string) (*exec.Cmd, error) {
	if m.redisCPUs == "" {
		return exec.Command(bin, args...), nil
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return nil, errors.New("-redis-cpus needs taskset (util-linux)")
	}
	return exec.Command(taskset, append([]string{"-c", m.redisCPUs, bin}, args...)...), nil
}

// loadProfiles names the profile files of one throughput load: name.cpu.pprof, and
// name.allocs.pprof with its base name.allocs.base.pprof (compare them with
// go tool pprof -sample_index=alloc_objects -base).
func (m *machineOptions) loadProfiles(name, cpu string) profileFiles {
	p := profileFiles{cpu: cpu}
	if m.profileDir != "" {
		if p.cpu == "" {
			p.cpu = filepath.Join(m.profileDir, name+".cpu.pprof")
		}
		p.allocs = filepath.Join(m.profileDir, name+".allocs.pprof")
	}
	return p
}

type profileFiles struct{ cpu, allocs string }

// memProfileRate is runtime.MemProfileRate during a turn with an allocation profile. It
// is set for that turn only: sampling allocations this often costs a sixth of the CPU,
// which the other turns must not pay.
var memProfileRate = 4096

// start starts the profiles of turn round of rounds and returns what stops them: the CPU
// profile in the first turn, the allocation profile in the second (the first if there
// is only one), so that sampling allocations does not show in the CPU profile.
func (p profileFiles) start(round, rounds int) (stop func() error, err error) {
	cpu := ""
	if round == 0 {
		cpu = p.cpu
	}
	stopCPU, err := startCPUProfile(cpu)
	if err != nil {
		return nil, err
	}
	if p.allocs == "" || round != min(1, rounds-1) {
		return func() error { stopCPU(); return nil }, nil
	}
	base := strings.TrimSuffix(p.allocs, ".pprof") + ".base.pprof"
	if err := writeAllocs(base); err != nil {
		stopCPU()
		return nil, err
	}
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = memProfileRate
	return func() error {
		runtime.MemProfileRate = rate
		stopCPU()
		return writeAllocs(p.allocs)
	}, nil
}

func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC() // the profile's figures are as of the last collection
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// heapObjects counts the heap objects this process has allocated so far.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
