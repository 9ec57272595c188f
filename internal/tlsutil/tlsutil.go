// Package tlsutil loads rallyd's certificate for its two ports and builds the client
// configuration with which the gateway dials the gRPC port over TLS.
package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Server returns the TLS configuration of both ports, from a PEM certificate (chain, leaf
// first) and its private key. Errors name the configuration field at fault.
func Server(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls-cert, tls-key: cannot load the certificate and its key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Loopback returns the configuration with which rallyd dials its own TLS port on loopback:
// it trusts exactly the certificate in certFile (pinned: whoever signed it need not be a
// CA the machine knows), and expects the name that certificate holds for this host.
func Loopback(certFile string) (*tls.Config, error) {
	leaf, err := leafCertificate(certFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{RootCAs: pool, ServerName: ServerName(leaf), MinVersion: tls.VersionTLS12}, nil
}

// ServerName is the name to verify leaf under when dialling it on loopback: localhost or
// a loopback address if it covers them (so a certificate made for local use works), else
// its first DNS name, else its first IP address.
func ServerName(leaf *x509.Certificate) string {
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if leaf.VerifyHostname(name) == nil {
			return name
		}
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0]
	}
	if len(leaf.IPAddresses) > 0 {
		return leaf.IPAddresses[0].String()
	}
	return "localhost"
}

// leafCertificate reads the first certificate of a PEM file.
func leafCertificate(certFile string) (*x509.Certificate, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tls-cert: %w", err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("tls-cert: no PEM certificate in the file")
		}
		if block.Type == "CERTIFICATE" {
			leaf, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("tls-cert: %w", err)
			}
			return leaf, nil
		}
	}
}
