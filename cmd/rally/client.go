package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

const defaultServer = "localhost:9090"

// Where a target's token came from, for the hint after UNAUTHENTICATED.
const (
	fromFlag  = "flag"  // --token or RALLY_TOKEN
	fromLogin = "login" // the saved login
	fromInput = "input" // typed or piped into rally login
	fromSaved = "saved" // the token saved for an RSVP or claim (see holding)
)

// target is where a command connects and with what.
type target struct {
	server    string
	token     string
	tokenFrom string // fromFlag, fromLogin, fromInput, fromSaved, or "" for no token
	tls       bool
	tlsCA     string

	savedServer string   // the server of the saved login, which may be another one
	held        string   // the RSVP or claim a holder's command acts on, for the hints
	holding     *holding // what held is
}

func (t target) secure() bool { return t.tls || t.tlsCA != "" }

// resolveTarget combines the global flags with the saved login. The saved token goes
// only to the server it was saved for: naming another server with --server must not
// hand that server the token.
func (c *cli) resolveTarget() (target, error) {
	saved, err := loadLogin()
	if err != nil {
		return target{}, err
	}
	t := target{server: c.server, tls: c.tls, tlsCA: c.tlsCA}
	if t.server == "" {
		t.server = defaultServer
		if saved != nil {
			t.server = saved.Server
		}
	}
	if saved != nil {
		t.savedServer = saved.Server
	}
	if saved != nil && saved.Server == t.server {
		t.use(*saved, fromLogin)
	}
	if c.token != "" {
		t.token, t.tokenFrom = c.token, fromFlag
	}
	return t, nil
}

// use takes the token and TLS settings saved for t's server; flags given win over the
// saved TLS settings.
func (t *target) use(saved savedLogin, from string) {
	t.token, t.tokenFrom = saved.Token, from
	t.tls = t.tls || saved.TLS
	if t.tlsCA == "" {
		t.tlsCA = saved.TLSCA
	}
}

// saved returns what to save to reach t again with token: the TLS CA by absolute path, so
// that it is found from any directory.
func (t target) saved(token string) (savedLogin, error) {
	l := savedLogin{Server: t.server, Token: token, TLS: t.tls, TLSCA: t.tlsCA}
	if l.TLSCA != "" {
		var err error
		if l.TLSCA, err = filepath.Abs(l.TLSCA); err != nil {
			return savedLogin{}, err
		}
	}
	return l, nil
}

// connect opens the connection for the running command.
func (c *cli) connect() error {
	t, err := c.resolveTarget()
	if err != nil {
		return err
	}
	return c.dial(t)
}

// connectAnonymous opens a connection that sends no token, whatever is saved or given:
// for calls that need none and should not tell the server who makes them.
func (c *cli) connectAnonymous() error {
	t, err := c.resolveTarget()
	if err != nil {
		return err
	}
	t.token, t.tokenFrom = "", ""
	return c.dial(t)
}

// dial opens a connection to t; it does not wait for the server, so that an unreachable
// server shows up as UNAVAILABLE on the first call.
func (c *cli) dial(t target) error {
	conn, err := c.newConn(t)
	if err != nil {
		return err
	}
	c.target, c.conn = t, conn
	return nil
}

// anonymous returns a second connection to the running command's server that sends no
// token, for public reads that the command's token may not make (a claim token only
// completes or releases its claim), opened on first use.
func (c *cli) anonymous() (*grpc.ClientConn, error) {
	if c.target.token == "" && c.conn != nil {
		return c.conn, nil
	}
	if c.anonConn == nil {
		t := c.target
		t.token, t.tokenFrom = "", ""
		conn, err := c.newConn(t)
		if err != nil {
			return nil, err
		}
		c.anonConn = conn
	}
	return c.anonConn, nil
}

// newConn opens a connection to t (see dial).
func (c *cli) newConn(t target) (*grpc.ClientConn, error) {
	if c.timeout <= 0 {
		return nil, usagef("--timeout %v: must be positive", c.timeout)
	}
	creds, err := transportCredentials(t)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("rally-cli"),
		grpc.WithUnaryInterceptor(timeoutInterceptor(c.timeout)),
	}
	if t.token != "" {
		if !t.secure() && !isLoopback(t.server) {
			fmt.Fprintf(c.stderr, "rally: warning: sending your token to %s without TLS: anyone on the way can read it; use --tls\n", t.server)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(t.token)))
	}
	conn, err := grpc.NewClient(t.server, opts...)
	if err != nil {
		return nil, usagef("--server %q: %v", t.server, err)
	}
	return conn, nil
}

func transportCredentials(t target) (credentials.TransportCredentials, error) {
	if !t.secure() {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.tlsCA != "" {
		pem, err := os.ReadFile(t.tlsCA)
		if err != nil {
			return nil, usagef("--tls-ca: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usagef("--tls-ca: %s holds no PEM certificate", t.tlsCA)
		}
	}
	return credentials.NewTLS(cfg), nil
}

// isLoopback reports whether a gRPC target such as localhost:9090 or dns:///[::1]:9090
// stays on this machine, where a token without TLS cannot be read off the network.
func isLoopback(server string) bool {
	hostport := server[strings.LastIndex(server, "/")+1:]
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearer sends the token with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so that rally works with a local plaintext rallyd;
// dial warns when a token would cross a network in the clear.
func (bearer) RequireTransportSecurity() bool { return false }

// timeoutInterceptor bounds each call rather than the whole command, so that the time a
// person takes to paste a token or the number of pages of a long list do not count.
func timeoutInterceptor(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

func (c *cli) campaignsClient() rallyv1.CampaignServiceClient {
	return rallyv1.NewCampaignServiceClient(c.conn)
}

func (c *cli) eventsClient() rallyv1.EventServiceClient { return rallyv1.NewEventServiceClient(c.conn) }

func (c *cli) rsvpsClient() rallyv1.RsvpServiceClient { return rallyv1.NewRsvpServiceClient(c.conn) }

func (c *cli) tasksClient() rallyv1.TaskServiceClient { return rallyv1.NewTaskServiceClient(c.conn) }

func (c *cli) organisersClient() rallyv1.OrganiserServiceClient {
	return rallyv1.NewOrganiserServiceClient(c.conn)
}
