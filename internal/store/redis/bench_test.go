package redis

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	pubsubredis "github.com/rallyhq/rally/internal/pubsub/redis"
	"github.com/rallyhq/rally/internal/redistest"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/storetest"
)

// BenchmarkCreateRSVP measures what a CreateRSVP costs Redis, as rallyd makes it (the
// change appended to the event's organisers' history in the same function), from many
// callers at once: on one event (a rush) and spread over 200 (rallybench's throughput
// load). It reports redis-µs/op, redis-server's CPU (INFO cpu) per create, the figure
// of issue 19 (docs/performance.md); ns/op is the machine's and the client's.
//
//	go test -run '^$' -bench CreateRSVP ./internal/store/redis/
func BenchmarkCreateRSVP(b *testing.B) {
	for _, events := range []int{1, 200} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) { benchmarkCreateRSVP(b, events) })
	}
}

func benchmarkCreateRSVP(b *testing.B, events int) {
	ctx := b.Context()
	rdb := redistest.Start(b).Client()
	broker, err := pubsubredis.New(ctx, rdb, "rally:", pubsubredis.WithTopicTag(TopicTag))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { broker.Close() })
	s := New(rdb, "rally:", WithChanges(broker.InScript()))
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	names := make([]string, events)
	for i := range names {
		e := storetest.Event(fmt.Sprintf("bench%d", i), start)
		if err := s.CreateEvent(ctx, e); err != nil {
			b.Fatal(err)
		}
		names[i] = e.GetName()
	}
	payload := []byte("a change of about the size of rallyd's")
	var seq atomic.Int64
	create := func() error {
		i := seq.Add(1)
		event := names[int(i)%len(names)]
		id := "r" + strconv.FormatInt(i, 36)
		h := sha256.Sum256([]byte(id))
		_, err := s.CreateRSVP(ctx, event, store.NewRSVP{
			Rsvp:      &rallyv1.Rsvp{Name: event + "/rsvps/" + id, CreateTime: timestamppb.Now()},
			TokenHash: h[:],
			Change:    &store.Publication{Topic: event, Payload: payload},
		}, time.Now())
		return err
	}
	if err := create(); err != nil { // loads the library
		b.Fatal(err)
	}
	before := redisCPU(b, rdb)
	b.ResetTimer()
	b.SetParallelism(32) // many callers, as rallyd's pool under load
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := create(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric((redisCPU(b, rdb)-before).Seconds()*1e6/float64(b.N), "redis-µs/op")
}

// redisCPU is the CPU time redis-server has used, user and system.
func redisCPU(b *testing.B, rdb *goredis.Client) time.Duration {
	info, err := rdb.Info(b.Context(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sec float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			sec += f
		}
	}
	return time.Duration(sec * float64(time.Second))
}
