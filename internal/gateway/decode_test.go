package gateway

import (
	"bytes"
	"errors"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

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
