package tlsutil

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rallyhq/rally/internal/tlsutil/tlstest"
)

// The loopback client configuration trusts the server's own certificate: a TLS handshake
// between the two succeeds.
func TestHandshake(t *testing.T) {
	certFile, keyFile := tlstest.SelfSigned(t)
	srv, err := Server(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Loopback(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if cli.ServerName != "localhost" {
		t.Errorf("ServerName %q, want localhost", cli.ServerName)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", lis.Addr().String(), cli)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	conn.Close()
	// A client that trusts only the system's CAs refuses the self-signed certificate.
	if c, err := tls.Dial("tcp", lis.Addr().String(), &tls.Config{ServerName: "localhost"}); err == nil {
		c.Close()
		t.Error("the system's roots accepted a self-signed certificate")
	}
}

func TestErrorsNameTheField(t *testing.T) {
	certFile, keyFile := tlstest.SelfSigned(t)
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for name, err := range map[string]error{
		"missing cert": second(Server(filepath.Join(t.TempDir(), "none.pem"), keyFile)),
		"key as cert":  second(Server(keyFile, keyFile)),
		"cert as key":  second(Server(certFile, certFile)),
		"loopback":     second(Loopback(notPEM)),
	} {
		if err == nil || !strings.Contains(err.Error(), "tls-cert") {
			t.Errorf("%s: %v, want an error naming tls-cert", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }
