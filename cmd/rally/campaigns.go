package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/protobuf/types/known/emptypb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

func (c *cli) campaignsCommand() *ffcli.Command {
	return c.group("campaigns", "create, list, show and change campaigns, and who organises them", "",
		c.createCampaignCommand(), c.listCampaignsCommand(), c.getCampaignCommand(),
		c.updateCampaignCommand(), c.campaignOrganiserCommand("add-organiser"),
		c.campaignOrganiserCommand("remove-organiser"), c.invitationsCommand(),
		c.answerInvitationCommand("accept-invitation"), c.answerInvitationCommand("decline-invitation"))
}

// campaignMask ties each campaign flag to the field it sets.
var campaignMask = []maskField{
	{"title", "title"}, {"description", "description"}, {"hashtag", "hashtags"},
	{"website", "website_uri"}, {"start", "start_time"}, {"end", "end_time"},
	{"require-signed-announcements", "require_signed_announcements"},
}

// campaignFlags are the flags that describe a campaign, for create and update alike.
type campaignFlags struct {
	title, description, website, start, end string
	hashtags                                listFlag
	requireSigned                           bool
}

func (f *campaignFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.title, "title", "", "public `title`")
	fs.StringVar(&f.description, "description", "", "public description `text`: the call to action and why it matters")
	fs.Var(&f.hashtags, "hashtag", "`hashtag` supporters should use, with or without #; repeat for more (on update: replaces them all; '' removes them)")
	fs.StringVar(&f.website, "website", "", "public web page, an https:// `URL`")
	fs.StringVar(&f.start, "start", "", "`time` the campaign starts: RFC 3339, or \"2030-05-17\" or \"2030-05-17 18:00\" in this computer's time zone")
	fs.StringVar(&f.end, "end", "", "`time` the campaign ends, like --start")
	fs.BoolVar(&f.requireSigned, "require-signed-announcements", false, "refuse announcements of the campaign's events that are not signed by an organiser's Ed25519 key (rally events announce --key); on update, =false lifts it. It stops a stolen token from announcing, not a compromised server: participants' clients check signatures themselves")
}

// campaign builds the campaign the flags describe. A campaign has no time zone of its
// own, so wall-clock times are in this computer's.
func (f *campaignFlags) campaign() (*rallyv1.Campaign, error) {
	start, err := parseTime("start", f.start, time.Local)
	if err != nil {
		return nil, err
	}
	end, err := parseTime("end", f.end, time.Local)
	if err != nil {
		return nil, err
	}
	var hashtags []string
	for _, h := range f.hashtags {
		if h != "" {
			hashtags = append(hashtags, h)
		}
	}
	return &rallyv1.Campaign{
		Title: f.title, Description: f.description, Hashtags: hashtags, WebsiteUri: f.website,
		StartTime: start, EndTime: end, RequireSignedAnnouncements: f.requireSigned,
	}, nil
}

func (c *cli) createCampaignCommand() *ffcli.Command {
	var f campaignFlags
	var id string
	return c.leaf(leaf{
		name: "create", usage: "campaigns create --title TITLE [flags]",
		short: "create a campaign; you become its owner",
		flags: func(fs *flag.FlagSet) {
			f.register(fs)
			fs.StringVar(&id, "id", "", "`ID` giving campaigns/ID; random (and unguessable) when empty")
		},
		run: func(ctx context.Context, _ []string) error {
			campaign, err := f.campaign()
			if err != nil {
				return err
			}
			cp, err := c.campaignsClient().CreateCampaign(ctx, &rallyv1.CreateCampaignRequest{Campaign: campaign, CampaignId: id})
			if err != nil {
				return err
			}
			return c.printFields(cp, campaignFields(cp))
		},
	})
}

func (c *cli) listCampaignsCommand() *ffcli.Command {
	var list listFlags
	return c.leaf(leaf{
		name: "list", usage: "campaigns list [--limit N]", short: "list campaigns, oldest first",
		flags: list.register,
		run: func(ctx context.Context, _ []string) error {
			campaigns, err := collect(list, func(size int32, token string) ([]*rallyv1.Campaign, string, error) {
				resp, err := c.campaignsClient().ListCampaigns(ctx, &rallyv1.ListCampaignsRequest{PageSize: size, PageToken: token})
				return resp.GetCampaigns(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, cp := range campaigns {
				rows = append(rows, []string{cp.GetName(), cp.GetTitle(), strings.Join(cp.GetHashtags(), " "), formatTime(cp.GetStartTime(), nil)})
			}
			return c.printTable(&rallyv1.ListCampaignsResponse{Campaigns: campaigns}, []string{"NAME", "TITLE", "HASHTAGS", "STARTS"}, rows)
		},
	})
}

func (c *cli) getCampaignCommand() *ffcli.Command {
	return c.leaf(leaf{
		name: "get", usage: "campaigns get CAMPAIGN", minArgs: 1, maxArgs: 1, short: "show a campaign",
		run: func(ctx context.Context, args []string) error {
			name, err := resourceName("campaigns", args[0])
			if err != nil {
				return err
			}
			cp, err := c.campaignsClient().GetCampaign(ctx, &rallyv1.GetCampaignRequest{Name: name})
			if err != nil {
				return err
			}
			return c.printFields(cp, campaignFields(cp))
		},
	})
}

func (c *cli) updateCampaignCommand() *ffcli.Command {
	var f campaignFlags
	var etag string
	return c.leaf(leaf{
		name: "update", usage: "campaigns update CAMPAIGN [flags]", minArgs: 1, maxArgs: 1,
		short: "change a campaign: only the fields whose flags are given",
		flags: func(fs *flag.FlagSet) {
			f.register(fs)
			etagFlag(fs, &etag)
		},
		run: func(ctx context.Context, args []string) error {
			name, err := resourceName("campaigns", args[0])
			if err != nil {
				return err
			}
			mask, err := updateMask(campaignMask, given(c.flags))
			if err != nil {
				return err
			}
			campaign, err := f.campaign()
			if err != nil {
				return err
			}
			campaign.Name, campaign.Etag = name, etag
			cp, err := c.campaignsClient().UpdateCampaign(ctx, &rallyv1.UpdateCampaignRequest{
				Campaign: campaign, UpdateMask: mask,
			})
			if err != nil {
				return err
			}
			return c.printFields(cp, campaignFields(cp))
		},
	})
}

// campaignOrganiserCommand is add-organiser or remove-organiser.
func (c *cli) campaignOrganiserCommand(name string) *ffcli.Command {
	short := "invite an organiser to co-organise a campaign; it joins once it accepts (the campaign's owner or the admin only)"
	long := "The organiser is listed among the campaign's organisers only after it runs\n" +
		"rally campaigns accept-invitation CAMPAIGN with its own token: nobody is listed on a cause\n" +
		"without agreeing. Until then the campaign shows it as invited, to its organisers only."
	if name == "remove-organiser" {
		short = "stop an organiser co-organising a campaign, or withdraw its invitation (the campaign's owner or the admin only)"
		long = ""
	}
	return c.leaf(leaf{
		name: name, usage: "campaigns " + name + " CAMPAIGN ORGANISER", minArgs: 2, maxArgs: 2, short: short, long: long,
		run: func(ctx context.Context, args []string) error {
			campaign, err := resourceName("campaigns", args[0])
			if err != nil {
				return err
			}
			organiser, err := resourceName("organisers", args[1])
			if err != nil {
				return err
			}
			organisers := c.organisersClient()
			var cp *rallyv1.Campaign
			if name == "add-organiser" {
				cp, err = organisers.AddCampaignOrganiser(ctx, &rallyv1.AddCampaignOrganiserRequest{Campaign: campaign, Organiser: organiser})
			} else {
				cp, err = organisers.RemoveCampaignOrganiser(ctx, &rallyv1.RemoveCampaignOrganiserRequest{Campaign: campaign, Organiser: organiser})
			}
			if err != nil {
				return err
			}
			if err := c.printFields(cp, campaignFields(cp)); err != nil {
				return err
			}
			if name == "add-organiser" && slices.ContainsFunc(cp.GetInvitations(), func(i *rallyv1.CampaignInvitation) bool { return i.GetInvitee() == organiser }) {
				c.note("\n%s is invited. It joins once it accepts, logged in as itself: rally campaigns accept-invitation %s", organiser, cp.GetName())
			}
			return nil
		},
	})
}

// invitationsCommand lists the caller's pending invitations.
func (c *cli) invitationsCommand() *ffcli.Command {
	var list listFlags
	var organiser string
	return c.leaf(leaf{
		name: "invitations", usage: "campaigns invitations [--organiser ORGANISER] [--limit N]",
		short: "list the campaigns that invite you to co-organise them, waiting for your answer",
		long:  "Answer with rally campaigns accept-invitation CAMPAIGN or decline-invitation CAMPAIGN.",
		flags: func(fs *flag.FlagSet) {
			list.register(fs)
			fs.StringVar(&organiser, "organiser", "me", "whose invitations: `ORGANISER`; another's for the admin only")
		},
		run: func(ctx context.Context, _ []string) error {
			parent, err := resourceName("organisers", organiser)
			if err != nil {
				return err
			}
			invitations, err := collect(list, func(size int32, token string) ([]*rallyv1.CampaignInvitation, string, error) {
				resp, err := c.organisersClient().ListCampaignInvitations(ctx, &rallyv1.ListCampaignInvitationsRequest{Parent: parent, PageSize: size, PageToken: token})
				return resp.GetCampaignInvitations(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, inv := range invitations {
				campaign, _, _ := strings.Cut(inv.GetName(), "/invitations/")
				// The title is public; the invitee decides knowing which cause it is.
				cp, err := c.campaignsClient().GetCampaign(ctx, &rallyv1.GetCampaignRequest{Name: campaign})
				if err != nil {
					return err
				}
				inviter := inv.GetInviter()
				if inviter == "" {
					inviter = "(the admin)"
				}
				rows = append(rows, []string{campaign, cp.GetTitle(), inviter, formatTime(inv.GetCreateTime(), nil)})
			}
			return c.printTable(&rallyv1.ListCampaignInvitationsResponse{CampaignInvitations: invitations},
				[]string{"CAMPAIGN", "TITLE", "INVITED BY", "SINCE"}, rows)
		},
	})
}

// answerInvitationCommand is accept-invitation or decline-invitation.
func (c *cli) answerInvitationCommand(name string) *ffcli.Command {
	short := "accept a campaign's invitation: you become one of its organisers"
	if name == "decline-invitation" {
		short = "decline a campaign's invitation: you are not listed among its organisers"
	}
	return c.leaf(leaf{
		name: name, usage: "campaigns " + name + " CAMPAIGN", minArgs: 1, maxArgs: 1, short: short,
		long: "Only the invited organiser can answer, logged in with its own token.",
		run: func(ctx context.Context, args []string) error {
			campaign, err := resourceName("campaigns", args[0])
			if err != nil {
				return err
			}
			if name == "decline-invitation" {
				if _, err := c.organisersClient().DeclineCampaignInvitation(ctx, &rallyv1.DeclineCampaignInvitationRequest{Campaign: campaign}); err != nil {
					return err
				}
				if c.json {
					return c.printJSON(&emptypb.Empty{})
				}
				_, err := fmt.Fprintf(c.stdout, "Declined the invitation of %s.\n", campaign)
				return err
			}
			cp, err := c.organisersClient().AcceptCampaignInvitation(ctx, &rallyv1.AcceptCampaignInvitationRequest{Campaign: campaign})
			if err != nil {
				return err
			}
			return c.printFields(cp, campaignFields(cp))
		},
	})
}

func campaignFields(cp *rallyv1.Campaign) []field {
	return []field{
		{"Name", cp.GetName()},
		{"Title", cp.GetTitle()},
		{"Hashtags", strings.Join(cp.GetHashtags(), " ")},
		{"Website", cp.GetWebsiteUri()},
		{"Starts", formatTime(cp.GetStartTime(), nil)},
		{"Ends", formatTime(cp.GetEndTime(), nil)},
		{"Announcements", signedAnnouncements(cp)},
		{"Owner", cp.GetOwner()},
		{"Organisers", strings.Join(cp.GetOrganisers(), ", ")},
		{"Invited", strings.Join(invitees(cp), ", ")},
		{"Description", cp.GetDescription()},
		{"Created", formatTime(cp.GetCreateTime(), nil)},
		{"Updated", formatTime(cp.GetUpdateTime(), nil)},
		{"Etag", cp.GetEtag()},
	}
}

// invitees are the organisers a campaign invites that have not answered yet.
func invitees(cp *rallyv1.Campaign) []string {
	var names []string
	for _, inv := range cp.GetInvitations() {
		names = append(names, inv.GetInvitee())
	}
	return names
}

// signedAnnouncements says whether a campaign requires signed announcements; "" (not
// shown) when it does not, as for every campaign before it could.
func signedAnnouncements(cp *rallyv1.Campaign) string {
	if cp.GetRequireSignedAnnouncements() {
		return "must be signed (rally events announce --key)"
	}
	return ""
}
