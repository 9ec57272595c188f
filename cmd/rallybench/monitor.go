package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// roundTrips splits the Redis commands of n sequential creates into those rallyd sent
// and those run inside Lua scripts, with MONITOR, which marks the latter "[0 lua]".
// INFO commandstats counts both alike.
func roundTrips(ctx context.Context, e *env, events []string, n int) (top, lua map[string]int, err error) {
	c, err := net.Dial("unix", e.rdb.Options().Addr)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	if _, err := c.Write([]byte("MONITOR\r\n")); err != nil {
		return nil, nil, err
	}
	rd := bufio.NewReader(c)
	if l, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
		return nil, nil, fmt.Errorf("MONITOR: %q %v", l, err)
	}
	for i := range n {
		if _, err := e.rsvps(i).CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: events[i%len(events)], Rsvp: &rallyv1.Rsvp{}}); err != nil {
			return nil, nil, fmt.Errorf("CreateRsvp: %w", err)
		}
	}
	const end = "rallybench-monitor-end"
	if err := e.rdb.Echo(ctx, end).Err(); err != nil {
		return nil, nil, err
	}
	top, lua = map[string]int{}, map[string]int{}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			return nil, nil, fmt.Errorf("MONITOR: %w", err)
		}
		if strings.Contains(l, `"echo" "`+end+`"`) {
			return top, lua, nil
		}
		_, rest, ok := strings.Cut(l, "] \"")
		if !ok {
			continue
		}
		cmd := strings.ToLower(rest[:strings.IndexByte(rest, '"')])
		if strings.Contains(l, " lua] ") {
			lua[cmd]++
		} else {
			top[cmd]++
		}
	}
}

func perCreate(m map[string]int, n int) (float64, string) {
	var total int
	var parts []string
	for k, v := range m {
		total += v
		parts = append(parts, fmt.Sprintf("%s=%.2f", k, float64(v)/float64(n)))
	}
	sort.Strings(parts)
	return float64(total) / float64(n), strings.Join(parts, " ")
}
