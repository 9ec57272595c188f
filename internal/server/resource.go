package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/mennanov/fmutils"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/secret"
)

// Helpers shared by the AIP standard methods of every resource: IDs, etags, page sizes
// and update masks.

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random resource ID: 128 bits, so that IDs cannot be enumerated.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// idFromRequestID derives the ID of a resource created with an idempotency key, so that
// a retry targets the same name and finds the first attempt's resource. The caller is
// part of the input: two callers choosing the same key get different resources.
func idFromRequestID(collection, caller, requestID string) string {
	sum := sha256.Sum256([]byte(collection + "\x00" + caller + "\x00" + requestID))
	return idEncoding.EncodeToString(sum[:16])
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

// maskSpec describes which fields of a resource an update may change.
type maskSpec struct {
	// updatable paths, top-level and nested (proto field names).
	updatable []string
	// ignored paths are output-only or identifying fields: AIP-203 says to ignore them
	// on input, and the gateway puts every field of a PATCH body in the mask.
	ignored []string
	// immutable paths are set on create only; asking to change them is an error.
	immutable []string
}

// paths returns the normalised update paths of a request. An empty mask means every
// updatable field that is set in msg; "*" means every updatable top-level field.
func (s maskSpec) paths(maskField string, mask *fieldmaskpb.FieldMask, msg proto.Message) ([]string, error) {
	var in []string
	switch {
	case len(mask.GetPaths()) == 0:
		msg.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			in = append(in, string(fd.Name()))
			return true
		})
	case slices.Equal(mask.GetPaths(), []string{"*"}):
		for _, p := range s.updatable {
			if !strings.Contains(p, ".") {
				in = append(in, p)
			}
		}
	default:
		for _, p := range mask.GetPaths() {
			in = append(in, protoPath(msg.ProtoReflect().Descriptor(), p))
		}
	}
	var out []string
	for _, p := range in {
		top, _, _ := strings.Cut(p, ".")
		switch {
		case slices.Contains(s.ignored, top):
		case slices.Contains(s.immutable, top):
			return nil, errInvalid(maskField, "field "+p+" cannot be changed after creation")
		case slices.Contains(s.updatable, p):
			out = append(out, p)
		default:
			return nil, errInvalid(maskField, "unknown field "+p)
		}
	}
	if len(out) == 0 {
		return nil, errInvalid(maskField, "names no field to update")
	}
	fm := &fieldmaskpb.FieldMask{Paths: out}
	fm.Normalize() // drops "venue.locality" when "venue" is there too
	return fm.GetPaths(), nil
}

// protoPath turns a mask path written with JSON names (updateMask=timeZone, as REST
// clients write it; grpc-gateway passes query values through unchanged) into proto
// names. Unknown segments are kept, to be reported by the caller.
func protoPath(md protoreflect.MessageDescriptor, path string) string {
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		if md == nil {
			break
		}
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			fd = md.Fields().ByJSONName(seg)
		}
		if fd == nil {
			break
		}
		segs[i] = string(fd.Name())
		md = fd.Message()
	}
	return strings.Join(segs, ".")
}

// apply copies the masked fields of src onto dst (clearing those that are empty in src).
func apply(src, dst proto.Message, paths []string) {
	fmutils.Overwrite(proto.Clone(src), dst, paths)
}
