package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

func (c *cli) tokensCommand() *ffcli.Command {
	return c.group("tokens", "create, list and revoke organisers' API tokens", "",
		c.createTokenCommand(), c.listTokensCommand(), c.revokeTokenCommand())
}

// organiserFlag adds --organiser: whose tokens a command manages.
func organiserFlag(fs *flag.FlagSet, organiser *string) {
	fs.StringVar(organiser, "organiser", "me", "the `organiser` whose tokens these are: me, or for the admin any organiser's ID or name")
}

func (c *cli) createTokenCommand() *ffcli.Command {
	var organiser, displayName, expires string
	return c.leaf(leaf{
		name: "create", usage: "tokens create [--organiser ORGANISER] [--display-name LABEL] [--expires 720h]",
		short: "create an API token; its secret is shown only once",
		long: `Prints the new token's secret alone on standard output, so that
TOKEN=$(rally tokens create ...) works; everything else goes to standard error. The
server keeps only a hash: the secret cannot be shown again.`,
		flags: func(fs *flag.FlagSet) {
			organiserFlag(fs, &organiser)
			fs.StringVar(&displayName, "display-name", "", "`label` to tell tokens apart, such as laptop or CI")
			fs.StringVar(&expires, "expires", "", "when the token stops working: a `duration` such as 720h or 30d, or an RFC 3339 time; never when empty")
		},
		run: func(ctx context.Context, _ []string) error {
			parent, err := resourceName("organisers", organiser)
			if err != nil {
				return err
			}
			expireTime, err := parseExpiry(expires, time.Now())
			if err != nil {
				return err
			}
			resp, err := c.organisersClient().CreateApiToken(ctx, &rallyv1.CreateApiTokenRequest{
				Parent: parent, ApiToken: &rallyv1.ApiToken{DisplayName: displayName, ExpireTime: expireTime},
			})
			if err != nil {
				return err
			}
			// The note goes to stderr even with --json: whoever runs this must learn that
			// the secret cannot be shown again.
			t := resp.GetApiToken()
			fmt.Fprintf(c.stderr, "Created %s, %s.\nIts secret is shown only this once: store it now, for example with `rally login`,\nor in a password manager.\n", t.GetName(), tokenExpiry(t))
			if c.json {
				return c.printJSON(resp)
			}
			_, err = fmt.Fprintln(c.stdout, resp.GetSecret())
			return err
		},
	})
}

func (c *cli) listTokensCommand() *ffcli.Command {
	var organiser string
	return c.leaf(leaf{
		name: "list", usage: "tokens list [--organiser ORGANISER]",
		short: "list API tokens, newest first, without their secrets",
		flags: func(fs *flag.FlagSet) { organiserFlag(fs, &organiser) },
		run: func(ctx context.Context, _ []string) error {
			parent, err := resourceName("organisers", organiser)
			if err != nil {
				return err
			}
			resp, err := c.organisersClient().ListApiTokens(ctx, &rallyv1.ListApiTokensRequest{Parent: parent})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, t := range resp.GetApiTokens() {
				rows = append(rows, []string{t.GetName(), t.GetDisplayName(), formatTime(t.GetCreateTime(), nil), tokenState(t, time.Now())})
			}
			return c.printTable(resp, []string{"NAME", "LABEL", "CREATED", "STATE"}, rows)
		},
	})
}

func (c *cli) revokeTokenCommand() *ffcli.Command {
	var organiser string
	return c.leaf(leaf{
		name: "revoke", usage: "tokens revoke [--organiser ORGANISER] TOKEN", minArgs: 1, maxArgs: 1,
		short: "revoke an API token at once (by ID or name, as tokens list shows)",
		flags: func(fs *flag.FlagSet) { organiserFlag(fs, &organiser) },
		run: func(ctx context.Context, args []string) error {
			parent, err := resourceName("organisers", organiser)
			if err != nil {
				return err
			}
			name, err := tokenName(args[0], parent)
			if err != nil {
				return err
			}
			t, err := c.organisersClient().RevokeApiToken(ctx, &rallyv1.RevokeApiTokenRequest{Name: name})
			if err != nil {
				return err
			}
			return c.printFields(t, []field{
				{"Name", t.GetName()},
				{"Label", t.GetDisplayName()},
				{"Created", formatTime(t.GetCreateTime(), nil)},
				{"State", tokenState(t, time.Now())},
			})
		},
	})
}

// tokenState says whether a token can still be used, and until when.
func tokenState(t *rallyv1.ApiToken, now time.Time) string {
	switch {
	case t.GetRevokeTime() != nil:
		return "revoked " + formatTime(t.GetRevokeTime(), nil)
	case t.GetExpireTime() != nil && !now.Before(t.GetExpireTime().AsTime()):
		return "expired " + formatTime(t.GetExpireTime(), nil)
	}
	return "active, " + tokenExpiry(t)
}

func tokenExpiry(t *rallyv1.ApiToken) string {
	if t.GetExpireTime() == nil {
		return "never expires"
	}
	return "expires " + formatTime(t.GetExpireTime(), nil)
}
