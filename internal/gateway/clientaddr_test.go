package gateway

import "testing"

// Clients cannot smuggle, as Grpc-Metadata-* headers, the metadata by which the gRPC port
// recognises the gateway and the address it forwards; other metadata still passes, and
// X-Request-Id and Idempotency-Key pass as the metadata the server reads.
func TestHeaderMatcher(t *testing.T) {
	for header, want := range map[string]string{
		"Grpc-Metadata-X-Forwarded-For":     "",
		"grpc-metadata-x-forwarded-for":     "",
		"Grpc-Metadata-X-Rally-Gateway-Key": "",
		"Grpc-Metadata-X-Rally-Anything":    "",
		"Grpc-Metadata-Request-Id":          "Request-Id",
		"Accept":                            "grpcgateway-Accept",
		"X-Forwarded-For":                   "",
		"X-Request-Id":                      "x-request-id",
		"x-request-id":                      "x-request-id",
		"Idempotency-Key":                   "idempotency-key",
		"Grpc-Metadata-Idempotency-Key":     "Idempotency-Key",
	} {
		got, ok := headerMatcher(header)
		if got != want || ok != (want != "") {
			t.Errorf("headerMatcher(%s) = %q, %v; want %q", header, got, ok, want)
		}
	}
}

// The call's request ID reaches HTTP clients as X-Request-Id; the gRPC hop's own keys
// reach them not at all, as header or trailer; other metadata keeps grpc-gateway's
// default prefix. internal/e2e's TestRESTHeaders checks real responses.
func TestOutgoingHeaderMatcher(t *testing.T) {
	for key, want := range map[string]string{
		"x-request-id":         "X-Request-Id",
		"x-other":              "Grpc-Metadata-x-other",
		"content-type":         "",
		"Content-Type":         "",
		"grpc-accept-encoding": "",
		"grpc-encoding":        "",
		"grpc-status":          "",
		"grpc-message":         "",
		"te":                   "",
		"user-agent":           "",
		":status":              "",
		"x-rally-gateway-key":  "",
	} {
		if got, ok := outgoingHeaderMatcher(key); got != want || ok != (want != "") {
			t.Errorf("outgoingHeaderMatcher(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
	for key, want := range map[string]string{
		"x-other":      "Grpc-Trailer-x-other",
		"content-type": "",
		"grpc-status":  "",
	} {
		if got, ok := outgoingTrailerMatcher(key); got != want || ok != (want != "") {
			t.Errorf("outgoingTrailerMatcher(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
}
