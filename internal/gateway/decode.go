package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rallyhq/rally/internal/server"
)

// Malformed JSON bodies. protojson reports where it stopped ("proto: (line 1:27): invalid
// google.protobuf.Timestamp value"), not which field, and grpc-gateway turns the error into
// a plain InvalidArgument. fieldDecoder finds the field at that position and leaves it in
// the request's bodyState, and errorHandler answers, as for any other bad field, with a
// google.rpc.BadRequest naming it. Fields are named as the body spelt them (createTime,
// venue.country): it is the body that could not be read.

// fieldMarshaler is the gateway's JSON marshaler with fieldDecoder for request bodies.
type fieldMarshaler struct{ *runtime.JSONPb }

// NewDecoder implements runtime.Marshaler.
func (m fieldMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		body, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		// A body that protojson reads whole is one JSON value, the value grpc-gateway's
		// decoder would hand to protojson after scanning it with encoding/json: the same
		// message, without the scan.
		if p, ok := v.(proto.Message); ok {
			if m.UnmarshalOptions.Unmarshal(body, p) == nil {
				return nil
			}
			proto.Reset(p)
		}
		// Anything else is decoded exactly as grpc-gateway's own decoder would (empty
		// bodies, trailing data, errors); only its errors are looked at.
		err = m.JSONPb.NewDecoder(bytes.NewReader(body)).Decode(v)
		if err == nil || errors.Is(err, io.EOF) {
			return err
		}
		if lb, ok := r.(*limitedBody); ok {
			lb.state.badField, lb.state.badReason = fieldAt(body, err)
		}
		return err
	})
}

// protojsonPos matches the position and the text of a protojson error. protobuf-go puts
// random non-breaking spaces into its messages to keep them from being parsed, as their
// wording may change: when this no longer matches, the error names the body as a whole,
// with protojson's full text.
var (
	protojsonPos    = regexp.MustCompile(`^proto:[\s\x{a0}]+(?:syntax error[\s\x{a0}]+)?\(line (\d+):(\d+)\):[\s\x{a0}]+(.*)$`)
	protojsonPrefix = regexp.MustCompile(`^proto:[\s\x{a0}]+`)
)

// fieldAt returns the JSON path of the field where decoding body failed with err ("" at
// the top level), and the reason without the position.
func fieldAt(body []byte, err error) (field, reason string) {
	reason = protojsonPrefix.ReplaceAllString(err.Error(), "")
	offset := len(body) // a truncated body: the field being read at its end
	if m := protojsonPos.FindStringSubmatch(err.Error()); m != nil {
		// Positions are within the JSON value, which starts after any leading space.
		value := bytes.TrimLeft(body, " \t\r\n")
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		offset, reason = len(body)-len(value)+offsetOf(value, line, col), m[3]
	}
	return pathAt(body, offset), reason
}

// offsetOf converts a 1-based line and column (in bytes) to an offset in body.
func offsetOf(body []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(body[off:], '\n')
		if i < 0 {
			return len(body)
		}
		off += i + 1
	}
	return min(off+max(col-1, 0), len(body))
}

// pathAt walks body's JSON tokens up to offset and returns the path of the key being
// read there: object keys joined with dots, list positions in brackets.
//
// encoding/json can walk tokens but not say where a protojson error was; protojson can
// decode but not say which field it was in: no library does both, hence this walk.
func pathAt(body []byte, offset int) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object bool
		key    string
		index  int
	}
	var stack []frame
	expectKey := false
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case f.object && f.key != "":
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			case !f.object && f.index >= 0:
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			}
		}
		return b.String()
	}
	for {
		// The next token starts at or after the end of the last one: stop at the first
		// that starts beyond offset, so that the token at offset (a key, a value) counts.
		if int(dec.InputOffset()) > offset {
			return path()
		}
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{object: true})
				expectKey = true
			case '[':
				stack = append(stack, frame{index: -1})
			case '}', ']':
				stack = stack[:top]
				expectKey = len(stack) > 0 && stack[len(stack)-1].object
			}
			if (t == '{' || t == '[') && top >= 0 && !stack[top].object {
				stack[top].index++
			}
			continue
		case string:
			if expectKey && top >= 0 && stack[top].object {
				stack[top].key, expectKey = t, false
				continue
			}
		}
		// A scalar value: the next token in an object is a key, in a list an element.
		if top >= 0 {
			if stack[top].object {
				expectKey = true
			} else {
				stack[top].index++
			}
		}
	}
}

// badBody replaces err with an InvalidArgument naming the field that could not be read,
// when fieldDecoder found one; it returns err unchanged otherwise.
func badBody(state *bodyState, err error) error {
	if state == nil || state.badReason == "" || status.Code(err) != codes.InvalidArgument {
		return err
	}
	field := state.badField
	if field == "" {
		field = "body"
	}
	return server.InvalidArgument(&errdetails.BadRequest_FieldViolation{Field: field, Description: state.badReason})
}
