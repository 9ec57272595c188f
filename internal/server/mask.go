package server

import (
	"slices"
	"strings"

	"github.com/mennanov/fmutils"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Update masks (AIP-134): which fields of a resource an update may change, derived from
// the resource's google.api.field_behavior annotations rather than kept in lists by hand.

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

// deriveMask builds the maskSpec of a resource from its descriptor:
//
//   - OUTPUT_ONLY and IDENTIFIER fields are ignored, and so is etag (AIP-154: it is
//     compared with the stored one, never written);
//   - IMMUTABLE fields cannot be changed after creation;
//   - every other field is updatable, and so are the fields of a singular message field
//     that is not a well-known type and has at least one field that is not REQUIRED
//     (a venue's locality alone, say). A message whose every field is required (an
//     envelope) can only be replaced whole: a path into it would leave it invalid.
func deriveMask(md protoreflect.MessageDescriptor) maskSpec {
	var s maskSpec
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		switch b := fieldBehavior(fd); {
		case name == "etag" || slices.Contains(b, annotations.FieldBehavior_OUTPUT_ONLY) || slices.Contains(b, annotations.FieldBehavior_IDENTIFIER):
			s.ignored = append(s.ignored, name)
		case slices.Contains(b, annotations.FieldBehavior_IMMUTABLE):
			s.immutable = append(s.immutable, name)
		default:
			s.updatable = append(s.updatable, name)
			if sub := fd.Message(); sub != nil && !fd.IsList() && !fd.IsMap() && partlyUpdatable(sub) {
				for j := range sub.Fields().Len() {
					s.updatable = append(s.updatable, name+"."+string(sub.Fields().Get(j).Name()))
				}
			}
		}
	}
	return s
}

// partlyUpdatable reports whether an update may name the fields of a message field one by
// one: a message of Rally's own (not a well-known type) with a field that is not REQUIRED.
func partlyUpdatable(md protoreflect.MessageDescriptor) bool {
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return false
	}
	fields := md.Fields()
	for i := range fields.Len() {
		if !slices.Contains(fieldBehavior(fields.Get(i)), annotations.FieldBehavior_REQUIRED) {
			return true
		}
	}
	return false
}

// fieldBehavior returns a field's google.api.field_behavior annotations.
func fieldBehavior(fd protoreflect.FieldDescriptor) []annotations.FieldBehavior {
	b, _ := proto.GetExtension(fd.Options(), annotations.E_FieldBehavior).([]annotations.FieldBehavior)
	return b
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
