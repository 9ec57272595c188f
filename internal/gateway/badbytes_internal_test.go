package gateway

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fields returns the fields an INVALID_ARGUMENT names, or nil for any other error.
func fields(t *testing.T, err error) []string {
	t.Helper()
	st := status.Convert(err)
	if err == nil || st.Code() != codes.InvalidArgument {
		return nil
	}
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField()+": "+v.GetDescription())
			}
		}
	}
	return out
}

// Query parameters are checked as url.ParseQuery reads them, and named by the field they
// set; path variables by theirs; the headers the server reads by their metadata key.
func TestByteViolations(t *testing.T) {
	for _, tc := range []struct {
		target string
		header http.Header
		params map[string]string
		want   []string
	}{
		{"/v1/events?campaign=campaigns%2Fx&pageSize=3", nil, nil, nil},
		{"/v1/events?campaign=%c3%28", nil, nil, []string{"campaign: " + reasonUTF8}},
		{"/v1/events?requestId=%ff&pageToken=%fe&requestId=%fd", nil, nil, []string{"page_token: " + reasonUTF8, "request_id: " + reasonUTF8}},
		{"/v1/events?request_id=%ff", nil, nil, []string{"request_id: " + reasonUTF8}},
		{"/v1/events?%ff=1", nil, nil, []string{"\ufffd: " + reasonUTF8}},
		{"/v1/events?=%ff", nil, nil, []string{"query: " + reasonUTF8}},
		{"/v1/events?country=%zz&locality=%", nil, nil, []string{"country: " + reasonEscape, "locality: " + reasonEscape}},
		{"/v1/events?a;b=%ff", nil, nil, []string{"a;b: " + reasonUTF8}}, // ParseQuery refuses the semicolon too
		{"/v1/x", nil, map[string]string{"event.name": "events/\xff", "parent": "events/ok"}, []string{"event.name: " + reasonUTF8}},
		{"/v1/x", http.Header{"Authorization": {"Bearer \xff"}}, nil, []string{"authorization: " + reasonPrintable}},
		{"/v1/x", http.Header{"Grpc-Metadata-Authorization": {"Bearer \x01"}}, nil, []string{"authorization: " + reasonPrintable}},
		{"/v1/x", http.Header{"Idempotency-Key": {"ok", "k\xc3\xa9y"}}, nil, []string{"idempotency-key: " + reasonPrintable}},
		{"/v1/x", http.Header{"X-Request-Id": {"\xff"}, "X-Other": {"\xff"}}, nil, nil}, // replaced, or not read
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		for k, v := range tc.header {
			r.Header[k] = v
		}
		if got := fields(t, byteViolations(r, tc.params, true)); !slices.Equal(got, tc.want) {
			t.Errorf("%s %v %v: %q, want %q", tc.target, tc.header, tc.params, got, tc.want)
		}
	}
}

// grpc-gateway's errors for a query value it cannot parse name the field in a BadRequest.
func TestBadQuery(t *testing.T) {
	err := badQuery(status.Error(codes.InvalidArgument, `parsing field "page_size": strconv.ParseInt: parsing "abc": invalid syntax`))
	if got := fields(t, err); !slices.Equal(got, []string{`page_size: strconv.ParseInt: parsing "abc": invalid syntax`}) {
		t.Errorf("%v: %q", err, got)
	}
	other := status.Error(codes.InvalidArgument, "something else")
	if badQuery(other) != other {
		t.Errorf("another error was replaced")
	}
}
