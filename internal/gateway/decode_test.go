package gateway

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestFieldAt: the field named for a body protojson cannot decode is the one where it
// stopped, whatever the layout of the JSON.
func TestFieldAt(t *testing.T) {
	for _, tc := range []struct{ body, field string }{
		{`{"title":"x","capacity":"many"}`, "capacity"},
		{"\n\n  {\n \"title\": \"x\",\n \"startTime\": \"tomorrow\"\n}", "startTime"},
		{`{"venue":{"country":"DE","kind":"VENUE_KIND_CASTLE"}}`, "venue.kind"},
		{`{"colour":"pink"}`, "colour"},
		{`{"title":"x","venue":{"locality":7}}`, "venue.locality"},
		{`{"title": `, "title"},
		{`{"title":"x"} trailing`, ""},
		{`[1,2]`, ""},
	} {
		// Decoded as the gateway does: positions are within the JSON value.
		var e rallyv1.Event
		err := (&runtime.JSONPb{}).NewDecoder(bytes.NewReader([]byte(tc.body))).Decode(&e)
		if err == nil {
			err = errors.New("unexpected EOF") // trailing data is left for the next Decode
		}
		if field, _ := fieldAt([]byte(tc.body), err); field != tc.field {
			t.Errorf("%q (%v): field %q, want %q", tc.body, err, field, tc.field)
		}
	}
}

// TestPathAtLists: list elements are named by position.
func TestPathAtLists(t *testing.T) {
	body := []byte(`{"hashtags":["#a","#b",{"x":1}]}`)
	if got := pathAt(body, len(`{"hashtags":["#a","#b",{"x":`)); got != "hashtags[2].x" {
		t.Errorf("path %q, want hashtags[2].x", got)
	}
	if got := pathAt(body, len(`{"hashtags":["#a",`)); got != "hashtags[1]" {
		t.Errorf("path %q, want hashtags[1]", got)
	}
}

// FuzzPathAt: any body and offset give a path, never a panic.
func FuzzPathAt(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c"}]}`), 9)
	f.Add([]byte(`{"a":`), 100)
	f.Add([]byte(`]]}}`), 0)
	f.Fuzz(func(t *testing.T, body []byte, offset int) {
		_ = pathAt(body, offset)
		_, _ = fieldAt(body, errors.New("proto: (line 1:3): x"))
	})
}

// TestDecoderAsGateways: request bodies decode as grpc-gateway's own decoder decodes them,
// into a message or into a field of one (a method whose body is a field), whether or not
// protojson reads the body whole: the same message, and an error exactly where the
// gateway's decoder gives one (io.EOF for an empty body).
func TestDecoderAsGateways(t *testing.T) {
	jsonpb := &runtime.JSONPb{UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false}}
	ours := fieldMarshaler{jsonpb}
	for _, body := range []string{
		`{"title":"Vigil","capacity":40,"venue":{"country":"KZ","locality":"Almaty"}}`,
		" \n{\"title\":\"Vigil\"}\n ",
		`{"title":"x"} {"title":"y"}`, // the gateway reads the first value
		`{"title":"x"} trailing`,
		`{"title":"x"`,
		`{"title":"x","title":"y"}`,
		`{"colour":"pink"}`,
		`{"capacity":"many"}`,
		`{"title":"\u00e9t\u00e9"}`,
		"{\"title\":\"\xff\"}",
		`{}`,
		`null`,
		`[]`,
		``,
		`   `,
	} {
		var want, got rallyv1.Event
		wantErr := jsonpb.NewDecoder(strings.NewReader(body)).Decode(&want)
		gotErr := ours.NewDecoder(strings.NewReader(body)).Decode(&got)
		if (gotErr == nil) != (wantErr == nil) || errors.Is(gotErr, io.EOF) != errors.Is(wantErr, io.EOF) {
			t.Errorf("%q: error %v, the gateway's %v", body, gotErr, wantErr)
		}
		if !proto.Equal(&got, &want) {
			t.Errorf("%q: decoded %v, the gateway's %v", body, &got, &want)
		}
		// Into a field: grpc-gateway passes a pointer to it, not a proto.Message.
		var wantReq, gotReq rallyv1.CreateEventRequest
		wantErr = jsonpb.NewDecoder(strings.NewReader(body)).Decode(&wantReq.Event)
		gotErr = ours.NewDecoder(strings.NewReader(body)).Decode(&gotReq.Event)
		if (gotErr == nil) != (wantErr == nil) || !proto.Equal(&gotReq, &wantReq) {
			t.Errorf("%q into a field: %v, %v; the gateway's %v, %v", body, &gotReq, gotErr, &wantReq, wantErr)
		}
	}
}
