package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

func (c *cli) loginCommand() *ffcli.Command {
	return c.leaf(leaf{
		name: "login", usage: "login [--server ADDRESS] [--tls | --tls-ca FILE] [--token TOKEN]",
		short: "check a token with rallyd and save it for the next commands",
		long: `The token comes from --token or RALLY_TOKEN, else from standard input
(rally login < token.txt), else you are asked to paste it. rally login saves the server,
the token and the TLS settings to rally/config.json in your config directory
($XDG_CONFIG_HOME or the system's), readable only by you. The token is only ever sent
to the server it was saved for.`,
		offline: true,
		run:     c.login,
	})
}

func (c *cli) login(ctx context.Context, _ []string) error {
	t, err := c.resolveTarget()
	if err != nil {
		return err
	}
	if c.token == "" {
		if t.token, err = c.readToken(); err != nil {
			return err
		}
		t.tokenFrom = fromInput
	}
	login, err := t.saved(t.token)
	if err != nil {
		return err
	}
	if err := c.dial(t); err != nil {
		return err
	}
	who, err := c.whoAmI(ctx, t.token)
	if err != nil {
		return err
	}
	path, err := saveLogin(login)
	if err != nil {
		return fmt.Errorf("saving the login: %w", err)
	}
	fmt.Fprintf(c.stdout, "Logged in to %s as %s.\nSaved to %s, readable only by you.\n", t.server, who, path)
	return nil
}

// readToken reads one line from standard input. On a terminal it prompts and reads
// without echo, so that the token does not stay on the screen or in a screen recording.
func (c *cli) readToken() (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.stderr, "Paste your Rally token and press Enter (it is not shown): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", err
		}
		if token := strings.TrimSpace(string(b)); token != "" {
			return token, nil
		}
		return "", usagef("no token: give it with --token or RALLY_TOKEN, or on standard input")
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if token := strings.TrimSpace(line); token != "" {
		return token, nil
	}
	return "", usagef("no token: give it with --token or RALLY_TOKEN, or on standard input")
}

// whoAmI checks the token against the server and says whose it is, without side effects.
//
// An organiser token (rly_org_) reads its own account, organisers/me. Any other token can
// only be the admin's, and the admin has no account to read; but the admin, and only the
// admin, may read any organiser. So it reads organisers/0, which can never exist (created
// IDs start with a letter and are at least 3 characters long): the admin gets NOT_FOUND,
// a token that is not valid gets UNAUTHENTICATED. This rests on documented API rules, not
// on the wording of an error.
func (c *cli) whoAmI(ctx context.Context, token string) (string, error) {
	organisers := c.organisersClient()
	if strings.HasPrefix(token, "rly_org_") {
		o, err := organisers.GetOrganiser(ctx, &rallyv1.GetOrganiserRequest{Name: "organisers/me"})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s (%s)", o.GetName(), o.GetDisplayName()), nil
	}
	_, err := organisers.GetOrganiser(ctx, &rallyv1.GetOrganiserRequest{Name: "organisers/0"})
	if err == nil || status.Code(err) == codes.NotFound {
		return "the admin", nil
	}
	return "", err
}

func (c *cli) logoutCommand() *ffcli.Command {
	return c.leaf(leaf{
		name: "logout", usage: "logout", short: "forget the saved login", offline: true,
		long: "Deletes the saved token from this computer. The token itself stays valid until\nit is revoked: run `rally tokens revoke` first if it should stop working.",
		run: func(context.Context, []string) error {
			path, removed, err := removeLogin()
			if err != nil {
				return err
			}
			if removed {
				fmt.Fprintf(c.stdout, "Logged out: removed %s.\n", path)
			} else {
				fmt.Fprintf(c.stdout, "Not logged in (there is no %s).\n", path)
			}
			return nil
		},
	})
}
