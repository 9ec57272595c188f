package redis

import (
	"errors"
	"io"
	"net"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
)

// unavailablePrefixes are the Redis errors of a server that cannot serve right now but
// will: loading its data, a Cluster or failover in progress, a replica not yet promoted,
// a script running too long.
var unavailablePrefixes = []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS", "BUSY"}

// IsUnavailable reports whether err means that Redis could not be reached or could not
// serve, rather than that the request was wrong: the server answers UNAVAILABLE, which
// clients retry, instead of INTERNAL. It is the store's half of the error mapping; the
// server's errors.go does the rest.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ENOENT),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.ErrPoolTimeout):
		return true
	}
	for _, p := range unavailablePrefixes {
		if goredis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}
