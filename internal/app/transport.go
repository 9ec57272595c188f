package app

import (
	"crypto/tls"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rallyhq/rally/internal/config"
	"github.com/rallyhq/rally/internal/tlsutil"
)

// transport is how the two ports are served and how rallyd dials its own gRPC port:
// plaintext, or TLS with the configured certificate on both ports.
type transport struct {
	server []grpc.ServerOption // the gRPC port's credentials
	http   *tls.Config         // the HTTP port's; nil for plaintext
	dial   []grpc.DialOption   // the gateway's (and the demo seeder's) to the gRPC port
}

func newTransport(cfg config.Config) (transport, error) {
	if !cfg.TLS() {
		return transport{dial: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}}, nil
	}
	srv, err := tlsutil.Server(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return transport{}, err
	}
	// The gateway dials over loopback, and verifies the certificate as any client would.
	cli, err := tlsutil.Loopback(cfg.TLSCert)
	if err != nil {
		return transport{}, err
	}
	return transport{
		server: []grpc.ServerOption{grpc.Creds(credentials.NewTLS(srv))},
		http:   srv,
		dial:   []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cli))},
	}, nil
}
