package main

import (
	"context"
	"flag"

	"github.com/peterbourgon/ff/v3/ffcli"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

func (c *cli) organisersCommand() *ffcli.Command {
	return c.group("organisers", "create organiser accounts (admin) and show them", "",
		c.createOrganiserCommand(),
		c.leaf(leaf{
			name: "get", usage: "organisers get [ORGANISER]", maxArgs: 1,
			short: "show your own account (me, the default), or any organiser's for the admin",
			run: func(ctx context.Context, args []string) error {
				name, err := resourceName("organisers", append(args, "me")[0])
				if err != nil {
					return err
				}
				o, err := c.organisersClient().GetOrganiser(ctx, &rallyv1.GetOrganiserRequest{Name: name})
				if err != nil {
					return err
				}
				return c.printFields(o, organiserFields(o))
			},
		}),
	)
}

func (c *cli) createOrganiserCommand() *ffcli.Command {
	var displayName, id string
	return c.leaf(leaf{
		name: "create", usage: "organisers create --display-name NAME [--id ID]",
		short: "create an organiser account (admin only)",
		long:  "Then give the organiser a token: rally tokens create --organiser ORGANISER.",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&displayName, "display-name", "", "`name` shown to co-organisers: a pseudonym or a group's name rather than a legal name")
			fs.StringVar(&id, "id", "", "`ID` of the account, giving organisers/ID; random when empty")
		},
		run: func(ctx context.Context, _ []string) error {
			o, err := c.organisersClient().CreateOrganiser(ctx, &rallyv1.CreateOrganiserRequest{
				Organiser: &rallyv1.Organiser{DisplayName: displayName}, OrganiserId: id,
			})
			if err != nil {
				return err
			}
			if err := c.printFields(o, organiserFields(o)); err != nil {
				return err
			}
			c.note("\nNext, give it a token: rally tokens create --organiser %s", o.GetName())
			return nil
		},
	})
}

func organiserFields(o *rallyv1.Organiser) []field {
	return []field{
		{"Name", o.GetName()},
		{"Display name", o.GetDisplayName()},
		{"Created", formatTime(o.GetCreateTime(), nil)},
	}
}
