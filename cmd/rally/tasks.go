package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/protobuf/types/known/durationpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

func (c *cli) tasksCommand() *ffcli.Command {
	return c.group("tasks", "amplification tasks: organisers create and close them, volunteers claim and complete them (no account needed)",
		`Organisers of a campaign create its tasks (share a statement, pitch a newspaper, write
a solidarity message), with ready-made messages and the sources they rest on. Anyone can
list and show them. Volunteers claim one without an account: rally tasks claim saves the
claim's token to rally/claims.json next to the login, and rally tasks complete and
release use it. A claim is named in full: tasks/TASK/claims/ID. --token or RALLY_TOKEN
give another token (an organiser's works too).`,
		c.createTaskCommand(), c.listTasksCommand(), c.getTaskCommand(), c.closeTaskCommand(),
		c.claimTaskCommand(), c.completeClaimCommand(), c.releaseClaimCommand(), c.listClaimsCommand(),
		c.forgetCommand(claimHolding, "tasks forget CLAIM", "The claim itself stays as it is: release it first if you will not do the task."))
}

var taskKinds = map[string]rallyv1.TaskKind{
	"share-post":             rallyv1.TaskKind_TASK_KIND_SHARE_POST,
	"contact-media":          rallyv1.TaskKind_TASK_KIND_CONTACT_MEDIA,
	"contact-representative": rallyv1.TaskKind_TASK_KIND_CONTACT_REPRESENTATIVE,
	"sign-petition":          rallyv1.TaskKind_TASK_KIND_SIGN_PETITION,
	"translate":              rallyv1.TaskKind_TASK_KIND_TRANSLATE,
	"solidarity-message":     rallyv1.TaskKind_TASK_KIND_SOLIDARITY_MESSAGE,
	"other":                  rallyv1.TaskKind_TASK_KIND_OTHER,
}

// taskFlags are the flags of tasks create.
type taskFlags struct {
	campaign, event, kind, title, instructions, deadline, claimTTL string
	templates, sources                                             listFlag
	target, maxClaims                                              int
}

func (f *taskFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.campaign, "campaign", "", "the `campaign` it serves (ID or campaigns/ID), one you organise")
	fs.StringVar(&f.event, "event", "", "the `event` of the campaign it is tied to, if any")
	fs.StringVar(&f.kind, "kind", "", "`kind` of work: share-post, contact-media, contact-representative, sign-petition, translate, solidarity-message or other")
	fs.StringVar(&f.title, "title", "", "short public `title`")
	fs.StringVar(&f.instructions, "instructions", "", "what to do, step by step (`text`)")
	fs.StringVar(&f.deadline, "deadline", "", "`time` it closes: RFC 3339, or \"2030-05-17 18:00\" in this computer's time zone")
	fs.Var(&f.templates, "template", "ready-made message, `LANG=TEXT` with a BCP 47 language such as en, kk, ru or de-AT; repeat for more, one per language")
	fs.Var(&f.sources, "source", "a source the task rests on, `URL|TITLE|PUBLISHER` with an https URL; repeat for more")
	fs.IntVar(&f.target, "target", 0, "how many completions (`N`) you hope for; 0 for no target")
	fs.IntVar(&f.maxClaims, "max-claims", 0, "most `N` claims open at once; 0 for no limit")
	fs.StringVar(&f.claimTTL, "claim-ttl", "", "how long a claim lasts before its place is freed, a `duration` from 1m to 30d, such as 48h (the server's default)")
}

// task builds the task the flags describe.
func (f *taskFlags) task() (*rallyv1.Task, error) {
	t := &rallyv1.Task{Title: f.title, Instructions: f.instructions}
	var err error
	if f.campaign == "" {
		return nil, usagef("--campaign is required: the campaign the task serves")
	}
	if t.Campaign, err = resourceName("campaigns", f.campaign); err != nil {
		return nil, err
	}
	if t.Event, err = optionalName("events", f.event); err != nil {
		return nil, err
	}
	if t.Kind, err = parseEnum("kind", f.kind, taskKinds); err != nil {
		return nil, err
	}
	if t.Deadline, err = parseTime("deadline", f.deadline, time.Local); err != nil {
		return nil, err
	}
	if t.TargetCompletions, err = int32Flag("target", f.target); err != nil {
		return nil, err
	}
	if t.MaxConcurrentClaims, err = int32Flag("max-claims", f.maxClaims); err != nil {
		return nil, err
	}
	if f.claimTTL != "" {
		d, err := parseDuration(f.claimTTL)
		if err != nil || d <= 0 {
			return nil, usagef("--claim-ttl %q: want a positive duration such as 48h, 90m or 7d", f.claimTTL)
		}
		t.ClaimTtl = durationpb.New(d)
	}
	for _, v := range f.templates {
		lang, text, ok := strings.Cut(v, "=")
		if !ok || lang == "" {
			return nil, usagef("--template %q: want LANG=TEXT, such as en=\"Share this\"", v)
		}
		t.MessageTemplates = append(t.MessageTemplates, &rallyv1.MessageTemplate{LanguageCode: lang, Text: text})
	}
	for _, v := range f.sources {
		// The title may hold a "|"; a URL and a publisher seldom do.
		url, rest, ok := strings.Cut(v, "|")
		i := strings.LastIndex(rest, "|")
		if !ok || i < 0 {
			return nil, usagef("--source %q: want URL|TITLE|PUBLISHER, such as \"https://example.org/report|Annual report|Example Watch\"", v)
		}
		t.Sources = append(t.Sources, &rallyv1.Source{Url: url, Title: rest[:i], Publisher: rest[i+1:]})
	}
	return t, nil
}

func (c *cli) createTaskCommand() *ffcli.Command {
	var f taskFlags
	return c.leaf(leaf{
		name:  "create",
		usage: "tasks create --campaign C --kind KIND --title T --deadline TIME [flags]",
		short: "create a task in a campaign you organise",
		long: `Example:
  rally tasks create --campaign kz-berlin --kind share-post \
    --title "Share the fact-checked statement on the new law" --deadline "2030-06-01 00:00" \
    --template "en=Kazakhstan's new law silences LGBTI people. #LoveIsNotPropaganda" \
    --source "https://www.hrw.org/news/example|Kazakhstan: Anti-LGBT law|Human Rights Watch" \
    --target 500 --max-claims 100 --claim-ttl 48h`,
		flags: f.register,
		run: func(ctx context.Context, _ []string) error {
			t, err := f.task()
			if err != nil {
				return err
			}
			t, err = c.tasksClient().CreateTask(ctx, &rallyv1.CreateTaskRequest{Task: t})
			if err != nil {
				return err
			}
			return c.printFields(t, taskFields(t))
		},
	})
}

func (c *cli) listTasksCommand() *ffcli.Command {
	var list listFlags
	var req rallyv1.ListTasksRequest
	var campaign, event, kind string
	return c.leaf(leaf{
		name: "list", usage: "tasks list [--campaign C] [--event E] [--kind KIND] [--language LANG] [--open] [--limit N]",
		short: "list tasks by deadline, soonest first; filters combine",
		flags: func(fs *flag.FlagSet) {
			list.register(fs)
			fs.StringVar(&campaign, "campaign", "", "only tasks of this `campaign`")
			fs.StringVar(&event, "event", "", "only tasks tied to this `event`")
			fs.StringVar(&kind, "kind", "", "only tasks of this `kind`, such as share-post")
			fs.StringVar(&req.LanguageCode, "language", "", "only tasks with a ready-made message in this `language`, such as en or kk")
			fs.BoolVar(&req.OpenOnly, "open", false, "only tasks that take claims now")
		},
		run: func(ctx context.Context, _ []string) error {
			var err error
			if req.Campaign, err = optionalName("campaigns", campaign); err != nil {
				return err
			}
			if req.Event, err = optionalName("events", event); err != nil {
				return err
			}
			if kind != "" {
				if req.Kind, err = parseEnum("kind", kind, taskKinds); err != nil {
					return err
				}
			}
			tasks, err := collect(list, func(size int32, token string) ([]*rallyv1.Task, string, error) {
				req.PageSize, req.PageToken = size, token
				resp, err := c.tasksClient().ListTasks(ctx, &req)
				return resp.GetTasks(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, t := range tasks {
				rows = append(rows, []string{t.GetName(), taskKind(t), formatTime(t.GetDeadline(), nil), taskProgress(t), taskState(t), t.GetTitle()})
			}
			return c.printTable(&rallyv1.ListTasksResponse{Tasks: tasks}, []string{"NAME", "KIND", "DEADLINE", "CLAIMED/COMPLETED OF TARGET", "STATE", "TITLE"}, rows)
		},
	})
}

// taskLeaf is a command on one task, named by ID or in full, that shows the task.
func (c *cli) taskLeaf(l leaf, call func(ctx context.Context, name string) (*rallyv1.Task, error)) *ffcli.Command {
	l.minArgs, l.maxArgs = 1, 1
	l.run = func(ctx context.Context, args []string) error {
		name, err := resourceName("tasks", args[0])
		if err != nil {
			return err
		}
		t, err := call(ctx, name)
		if err != nil {
			return err
		}
		return c.printFields(t, taskFields(t))
	}
	return c.leaf(l)
}

func (c *cli) getTaskCommand() *ffcli.Command {
	return c.taskLeaf(leaf{
		name: "get", usage: "tasks get TASK", short: "show a task: its instructions, messages, sources and progress",
	}, func(ctx context.Context, name string) (*rallyv1.Task, error) {
		return c.tasksClient().GetTask(ctx, &rallyv1.GetTaskRequest{Name: name})
	})
}

func (c *cli) closeTaskCommand() *ffcli.Command {
	return c.taskLeaf(leaf{
		name: "close", usage: "tasks close TASK", short: "stop a task taking claims (its campaign's organisers; safe to repeat)",
		long: "Claims already made can still be completed or released.",
	}, func(ctx context.Context, name string) (*rallyv1.Task, error) {
		return c.tasksClient().CloseTask(ctx, &rallyv1.CloseTaskRequest{Name: name})
	})
}

func (c *cli) claimTaskCommand() *ffcli.Command {
	var displayName, requestID string
	return c.leaf(leaf{
		name: "claim", usage: "tasks claim TASK [--name PSEUDONYM] [--request-id ID]",
		minArgs: 1, maxArgs: 1, offline: true,
		short: "take one of a task's places, without an account",
		long: `Sends no token, whatever is saved: the claim belongs to no account. Prints the claim,
and its claim token on standard error (with --json, in the API's response on standard
output). The token is the only way to complete or release the claim: rally saves it to
rally/claims.json in your config directory, readable only by you, for rally tasks
complete and release. On a computer others may search, keep the token elsewhere and run
rally tasks forget. A claim not completed in time expires and frees its place.

The pseudonym is sealed here, before it is sent, to the public keys of the campaign's
organisers, and rally prints their fingerprints on standard error, as rally rsvp create
does; when they have no key yet it is stored in clear, and rally warns you.

A closed task, or one whose places are all taken, fails (exit 5). A network error is
retried once with the same request ID, so that it never makes two claims.
Example: rally tasks claim share-statement --name Robin`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&displayName, "name", "", "`pseudonym` shown to the organisers: any name will do, and none is needed")
			requestIDFlag(fs, claimHolding, &requestID)
		},
		run: func(ctx context.Context, args []string) error {
			task, err := resourceName("tasks", args[0])
			if err != nil {
				return err
			}
			req := &rallyv1.ClaimTaskRequest{Name: task, DisplayName: displayName}
			var to sealTo
			// Sealed once, before the first try: a retry sends the same claim ID and envelope.
			prepare := func(ctx context.Context) error {
				if displayName == "" {
					return nil
				}
				if err := checkLocally(req); err != nil {
					return err
				}
				if to, err = c.taskSealTarget(ctx, task); err != nil || len(to.recipients) == 0 {
					return err
				}
				req.ClaimId = newRecordID()
				if req.Envelope, err = to.seal(&rallyv1.SealedFields{DisplayName: displayName}, task+"/claims/"+req.ClaimId); err != nil {
					return err
				}
				req.DisplayName = ""
				return nil
			}
			inClear := false
			err = c.issue(ctx, claimHolding, requestID, prepare, func(ctx context.Context, requestID string) (issued, error) {
				resp, err := c.tasksClient().ClaimTask(withIdempotencyKey(ctx, requestID), req)
				cl := resp.GetClaim()
				inClear = resp.GetStoredInClear()
				return issued{response: resp, resource: cl, fields: claimFields(cl), name: cl.GetName(), token: resp.GetClaimToken()}, err
			})
			if err != nil {
				return err
			}
			switch {
			case len(to.recipients) > 0:
				c.sealedNote("pseudonym", to)
			case inClear:
				c.inClearWarning("pseudonym", "the campaign's")
			}
			return nil
		},
	})
}

// taskSealTarget reads the keys that the personal fields of a task's claims are sealed
// to: its campaign's recipient keys (see sealTarget).
// Both are public reads, made without a token: a claim token does not serve for them.
func (c *cli) taskSealTarget(ctx context.Context, task string) (sealTo, error) {
	conn, err := c.anonymous()
	if err != nil {
		return sealTo{}, err
	}
	t, err := rallyv1.NewTaskServiceClient(conn).GetTask(ctx, &rallyv1.GetTaskRequest{Name: task})
	if err != nil {
		return sealTo{}, err
	}
	cp, err := rallyv1.NewCampaignServiceClient(conn).GetCampaign(ctx, &rallyv1.GetCampaignRequest{Name: t.GetCampaign()})
	if err != nil {
		return sealTo{}, err
	}
	return sealTarget(cp.GetRecipientKeys())
}

// claimLeaf is a command on one claim, named in full, with its saved claim token (see
// heldLeaf).
func (c *cli) claimLeaf(l leaf, call func(ctx context.Context, name string) (*rallyv1.Claim, error)) *ffcli.Command {
	return heldLeaf(c, claimHolding, l, true, call, claimFields)
}

func (c *cli) completeClaimCommand() *ffcli.Command {
	var proof, note string
	return c.claimLeaf(leaf{
		name: "complete", usage: "tasks complete CLAIM [--proof URL] [--note TEXT]",
		short: "report the work of a claim done (safe to repeat: it counts once)",
		long: `An expired or released claim fails (exit 5): claim the task again.

The proof and note are sealed here, before they are sent, to the public keys of the
campaign's organisers, as rally tasks claim seals the pseudonym; when they have no key
yet they are stored in clear, and rally warns you.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&proof, "proof", "", "https `URL` of the work done, such as your post; only the organisers see it")
			fs.StringVar(&note, "note", "", "a note for the organisers (`text`); only they see it")
		},
	}, func(ctx context.Context, name string) (*rallyv1.Claim, error) {
		req := &rallyv1.CompleteClaimRequest{Name: name, ProofUrl: proof, Note: note}
		what := claimPersonal(proof != "", note != "")
		if what == "" {
			return c.tasksClient().CompleteClaim(ctx, req)
		}
		if err := checkLocally(req); err != nil {
			return nil, err
		}
		to, err := c.taskSealTarget(ctx, parentOf(name))
		if err != nil {
			return nil, err
		}
		if len(to.recipients) > 0 {
			if req.Envelope, err = to.seal(&rallyv1.SealedFields{ProofUrl: proof, Note: note}, name); err != nil {
				return nil, err
			}
			req.ProofUrl, req.Note = "", ""
		}
		cl, err := c.tasksClient().CompleteClaim(ctx, req)
		switch {
		case err != nil:
		case len(to.recipients) > 0:
			c.sealedNote(what, to)
		case to.none:
			c.inClearWarning(what, "the campaign's")
		}
		return cl, err
	})
}

// claimPersonal names the completion's personal fields given, for the notes on sealing.
func claimPersonal(proof, note bool) string {
	switch {
	case proof && note:
		return "proof and note"
	case proof:
		return "proof"
	case note:
		return "note"
	}
	return ""
}

func (c *cli) listClaimsCommand() *ffcli.Command {
	var list listFlags
	var keyPath string
	return c.leaf(leaf{
		name: "claims", usage: "tasks claims TASK [--key FILE] [--limit N] [--page-size N]", minArgs: 1, maxArgs: 1,
		short: "list a task's claims, oldest first, with pseudonyms, proofs and notes (its campaign's organisers only)",
		long: `Every call is recorded in the task's audit log (the API's ListAuditEntries).

Pseudonyms, proofs and notes sealed to the organisers' keys show as "(sealed)" unless
--key names your key file (rally keys create): they are then opened here, on this
computer, with its private keys. With --json, the claims are the API's, with displayName,
proofUrl and note filled in from the envelopes opened (envelope and completionEnvelope
are kept); a claim stored in clear has them as stored. A claim that does not open shows
why in its cells ("(sealed to another key)", "(tampered with)", "(sealed for another
record)"), keeps empty fields in the JSON, and is counted in one warning on standard
error. The exit code is 0 when at least one sealed claim opened (or none is sealed), and
1 when none did (the list is still printed): most likely FILE is not the right key file.`,
		flags: func(fs *flag.FlagSet) {
			list.register(fs)
			keyFlag(fs, &keyPath)
		},
		run: func(ctx context.Context, args []string) error {
			task, err := resourceName("tasks", args[0])
			if err != nil {
				return err
			}
			keys, err := newOpener(keyPath, "claims")
			if err != nil {
				return err
			}
			req := &rallyv1.ListClaimsRequest{Parent: task}
			claims, err := collect(list, func(size int32, token string) ([]*rallyv1.Claim, string, error) {
				req.PageSize, req.PageToken = size, token
				resp, err := c.tasksClient().ListClaims(ctx, req)
				return resp.GetClaims(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			var rows [][]string
			unopened := 0
			for _, cl := range claims {
				pseudonym, proof, note := cell(cl.GetDisplayName()), cell(cl.GetProofUrl()), cell(cl.GetNote())
				fields, marks := keys.record(cl.GetName(), cl.GetEnvelope(), cl.GetCompletionEnvelope())
				if marks[0] != "" || marks[1] != "" {
					unopened++
				}
				switch {
				case marks[0] != "":
					pseudonym = marks[0]
				case fields[0] != nil:
					cl.DisplayName = fields[0].GetDisplayName()
					pseudonym = cell(cl.DisplayName)
				}
				switch {
				case marks[1] != "":
					proof, note = marks[1], marks[1]
				case fields[1] != nil:
					cl.ProofUrl, cl.Note = fields[1].GetProofUrl(), fields[1].GetNote()
					proof, note = cell(cl.ProofUrl), cell(cl.Note)
				}
				expires := ""
				if cl.GetState() == rallyv1.ClaimState_CLAIM_STATE_CLAIMED {
					expires = formatTime(cl.GetExpireTime(), nil)
				}
				rows = append(rows, []string{cl.GetName(), enumName(cl.GetState(), "CLAIM_STATE_"), pseudonym, expires, proof, note})
			}
			if err := c.printTable(&rallyv1.ListClaimsResponse{Claims: claims}, []string{"NAME", "STATE", "PSEUDONYM", "EXPIRES", "PROOF", "NOTE"}, rows); err != nil {
				return err
			}
			if keys == nil && unopened > 0 {
				c.note("Sealed to the organisers' keys: %d of %d claims; --key FILE, your key file, opens them here.", unopened, len(claims))
			}
			return keys.done(c)
		},
	})
}

func (c *cli) releaseClaimCommand() *ffcli.Command {
	return c.claimLeaf(leaf{
		name: "release", usage: "tasks release CLAIM", short: "give a claim's place back without completing it",
		long: "The claim token stays saved; rally tasks forget deletes it.",
	}, func(ctx context.Context, name string) (*rallyv1.Claim, error) {
		return c.tasksClient().ReleaseClaim(ctx, &rallyv1.ReleaseClaimRequest{Name: name})
	})
}

func taskKind(t *rallyv1.Task) string {
	return strings.ReplaceAll(enumName(t.GetKind(), "TASK_KIND_"), "_", "-")
}

func taskState(t *rallyv1.Task) string {
	return enumName(t.GetState(), "TASK_STATE_")
}

// taskProgress shows claims open and completed, and the target: "3/1 of 500".
func taskProgress(t *rallyv1.Task) string {
	p := t.GetProgress()
	s := fmt.Sprintf("%d/%d", p.GetClaimed(), p.GetCompleted())
	if n := t.GetTargetCompletions(); n > 0 {
		s += fmt.Sprintf(" of %d", n)
	}
	return s
}

// formatDuration shows a duration without its zero minutes and seconds: 48h, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func taskFields(t *rallyv1.Task) []field {
	p := t.GetProgress()
	progress := fmt.Sprintf("%d claimed, %d completed", p.GetClaimed(), p.GetCompleted())
	if n := t.GetTargetCompletions(); n > 0 {
		progress += fmt.Sprintf(" of %d hoped for", n)
	}
	places := "unlimited"
	if n := t.GetMaxConcurrentClaims(); n > 0 {
		places = fmt.Sprintf("at most %d claimed at once", n)
	}
	var templates, sources []string
	for _, m := range t.GetMessageTemplates() {
		templates = append(templates, m.GetLanguageCode()+": "+m.GetText())
	}
	for _, s := range t.GetSources() {
		line := fmt.Sprintf("%s (%s) %s", s.GetTitle(), s.GetPublisher(), s.GetUrl())
		if s.GetPublishTime() != nil {
			line += ", published " + s.GetPublishTime().AsTime().Format("2006-01-02")
		}
		sources = append(sources, line)
	}
	claimTTL := ""
	if t.GetClaimTtl() != nil {
		claimTTL = formatDuration(t.GetClaimTtl().AsDuration())
	}
	return []field{
		{"Name", t.GetName()},
		{"Title", t.GetTitle()},
		{"Kind", taskKind(t)},
		{"Campaign", t.GetCampaign()},
		{"Event", t.GetEvent()},
		{"State", taskState(t)},
		{"Deadline", formatTime(t.GetDeadline(), nil)},
		{"Progress", progress},
		{"Places", places},
		{"Claims last", claimTTL},
		{"Instructions", t.GetInstructions()},
		{"Messages", strings.Join(templates, "\n")},
		{"Sources", strings.Join(sources, "\n")},
		{"Created", formatTime(t.GetCreateTime(), nil)},
		{"Updated", formatTime(t.GetUpdateTime(), nil)},
		{"Etag", t.GetEtag()},
	}
}

func claimFields(cl *rallyv1.Claim) []field {
	expires := ""
	if cl.GetState() == rallyv1.ClaimState_CLAIM_STATE_CLAIMED {
		expires = formatTime(cl.GetExpireTime(), nil)
	}
	return []field{
		{"Name", cl.GetName()},
		{"State", enumName(cl.GetState(), "CLAIM_STATE_")},
		{"Pseudonym", cl.GetDisplayName()},
		{"Expires", expires},
		{"Proof", cl.GetProofUrl()},
		{"Note", cl.GetNote()},
		{"Created", formatTime(cl.GetCreateTime(), nil)},
	}
}
