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

// The call's request ID reaches HTTP clients as X-Request-Id; other metadata keeps
// grpc-gateway's default prefix.
func TestOutgoingHeaderMatcher(t *testing.T) {
	for key, want := range map[string]string{
		"x-request-id": "X-Request-Id",
		"x-other":      "Grpc-Metadata-x-other",
	} {
		if got, ok := outgoingHeaderMatcher(key); got != want || !ok {
			t.Errorf("outgoingHeaderMatcher(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
}
