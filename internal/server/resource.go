package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"

	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/secret"
)

// Helpers shared by the AIP standard methods of every resource: IDs, etags and page
// sizes (update masks are in mask.go).

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random resource ID: 128 bits, so that IDs cannot be enumerated.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// etag computes a resource's etag: an HMAC, under a key derived from the server secret,
// of the resource's deterministic encoding with the etag itself and the output-only
// counters that RSVPs and claims change (an event's attendance, a task's progress)
// cleared.
//
// Keyed, because the stored resource holds what a public reader may not see (the meeting
// point, the owner, the organisers, exact counts): an unkeyed hash of it would let anyone
// holding the public etag check guesses at those offline. Without the secret the etag
// reveals nothing, and guesses cannot be checked.
//
// Without the counters, because an RSVP to a HIDDEN event (or a claim) must change
// nothing a public read shows: the etag would otherwise count them. The counters are
// not the organisers' to edit, so an update never needs to detect a change in them.
// update_time is part of the input, so every update still changes the etag.
//
// Etags already stored (unkeyed, by an older Rally) stay valid: they are compared as
// stored, and replaced on the next change.
func (s *service) etag(m proto.Message) string {
	c := proto.Clone(m)
	switch r := c.(type) {
	case *rallyv1.Event:
		r.Attendance = nil
	case *rallyv1.Task:
		r.Progress = nil
	}
	fd := c.ProtoReflect().Descriptor().Fields().ByName("etag")
	c.ProtoReflect().Clear(fd)
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	mac := hmac.New(sha256.New, s.secrets.Key(secret.Etag))
	mac.Write(b)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:12])
}

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// pageSize applies AIP-158 defaults; validation has already bounded the value.
func pageSize(n int32) int {
	if n <= 0 {
		return defaultPageSize
	}
	return min(int(n), maxPageSize)
}
