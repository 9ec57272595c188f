package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// cli is one invocation of rally: its global flags, its streams and its connection.
type cli struct {
	server  string // --server; empty means the saved login's server, else defaultServer
	token   string // --token; empty means the saved login's token
	tls     bool
	tlsCA   string
	json    bool
	timeout time.Duration

	stdin          io.Reader
	stdout, stderr io.Writer

	usageOf *ffcli.Command // the command whose usage the flag package last asked for
	flags   *flag.FlagSet  // the running command's flags, to name them in error messages
	target  target         // where the running command connects, once it has
	conn    *grpc.ClientConn

	anonConn *grpc.ClientConn // a second connection without a token (see anonymous)

	// extraHint, when set by the running command, gives a hint of its own for an error
	// the server returned, in place of the general one for its code ("" for none).
	extraHint func(st *status.Status) string
}

const longHelp = `Rally's command-line client for organisers, the operator and participants. It talks
gRPC to rallyd.

Start with "rally login": it checks a token (an organiser's rly_org_ token, or the
operator's admin token) and saves it, with the server, in your config directory, readable
only by you. Resources may be named by ID or in full: "vigil" and "events/vigil" are the
same event. Times are RFC 3339 (2030-05-17T18:00:00+02:00) or "2030-05-17 18:00" in the
time zone given by --tz.

Participants need no login: "rally rsvp create EVENT" saves the RSVP's manage token to
rally/rsvps.json next to the login, and rally rsvp get, update and cancel use it. An
RSVP is named in full: events/EVENT/rsvps/ID. Likewise volunteers: "rally tasks claim
TASK" saves the claim's token to rally/claims.json, and rally tasks complete and release
use it; a claim is named in full: tasks/TASK/claims/ID. Their pseudonyms, contacts,
notes and proofs are sealed here, before they are sent, to the organisers' keys (rally
keys create); organisers open them with their key file: rally rsvps list EVENT --key FILE
and rally tasks claims TASK --key FILE.

Organisers sign announcements with the same key file (rally events announce EVENT --text
TEXT --key FILE); rally events announcements EVENT checks every signature here and
prints "verified: signed by FINGERPRINT" or "NOT VERIFIED". Participants pair with a
buddy and check out home safe (rally rsvp pair-buddy, join-buddy, check-out), and
rally rsvp delete forgets an RSVP at once, on the server and here.

Every global flag may also follow the command (rally events list --json) and has an
environment variable: RALLY_SERVER, RALLY_TOKEN, RALLY_TLS, RALLY_TLS_CA, RALLY_JSON,
RALLY_TIMEOUT. A token given with --token or RALLY_TOKEN overrides the saved one; the
saved token is only ever sent to the server it was saved for.

EXIT CODES
  0   success
  1   any other error
  2   usage error or invalid argument (the message names the flag or field)
  3   not logged in, token not valid, or permission denied
  4   not found (an RSVP or claim also when the token used is not its own)
  5   conflict: the ID is taken, the resource changed since read (etag), or its state
      does not allow the change (such as a cancelled event, no room for more guests, a
      closed task, a task whose places are all taken, or an expired claim)
  69  rallyd unreachable or not answering in time`

// run executes one command line and returns the process's exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	root := c.root()
	err := root.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		// The flag package or ff refused the command line. ff wraps the flag package's
		// clear message in a generic one.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		err = usageError{msg: err.Error()}
	}
	if err == nil {
		err = root.Run(ctx)
	}
	if c.conn != nil {
		c.conn.Close()
	}
	if c.anonConn != nil {
		c.anonConn.Close()
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, c.usage(c.usageOf))
		return exitOK
	}
	return c.fail(err)
}

func (c *cli) root() *ffcli.Command {
	root := c.group("", "", longHelp,
		c.loginCommand(), c.logoutCommand(), c.organisersCommand(), c.tokensCommand(), c.keysCommand(),
		c.campaignsCommand(), c.eventsCommand(), c.rsvpsCommand(), c.rsvpCommand(), c.tasksCommand())
	// Only the root reads the environment: RALLY_* variables are global settings, and a
	// stray RALLY_TITLE must not fill in a command's flag.
	root.Options = []ff.Option{ff.WithEnvVarPrefix("RALLY")}
	return root
}

// flagSet returns a command's flag set with the global flags in it, so that they work
// after the command too. All flag sets write into the same fields of c.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints usage and errors itself
	fs.StringVar(&c.server, "server", "", "rallyd's gRPC `address` (default: the server you logged in to, else "+defaultServer+")")
	fs.StringVar(&c.token, "token", "", "API `token` to use instead of the saved one; prefer RALLY_TOKEN, since other users can see flags in ps")
	fs.BoolVar(&c.tls, "tls", false, "connect with TLS, trusting the system's certificate authorities")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "connect with TLS, trusting only the certificate or CA in this PEM `file` (for a self-signed certificate)")
	fs.BoolVar(&c.json, "json", false, "print the API's JSON instead of a table")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for each answer of the server")
	return fs
}

var globalFlags = map[string]bool{"server": true, "token": true, "tls": true, "tls-ca": true, "json": true, "timeout": true}

// group returns a command that only holds subcommands.
func (c *cli) group(name, short, long string, subs ...*ffcli.Command) *ffcli.Command {
	path := strings.TrimSpace("rally " + name)
	cmd := &ffcli.Command{
		Name: name, ShortUsage: path + " COMMAND [flags]", ShortHelp: short, LongHelp: long,
		FlagSet: c.flagSet(path), Subcommands: subs, UsageFunc: c.recordUsage,
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.Name
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		c.usageOf = cmd
		if len(args) == 0 {
			return usagef("name a command: %s", strings.Join(names, ", "))
		}
		return usagef("unknown command %q; the commands are: %s", args[0], strings.Join(names, ", "))
	}
	return cmd
}

// leaf describes a command that does something.
type leaf struct {
	name    string // as typed after its group, such as "create"
	usage   string // the usage line without "rally", such as "events get EVENT"
	short   string // one line, shown in the group's list
	long    string // optional paragraph for --help
	minArgs int    // positional arguments it needs
	maxArgs int
	offline bool // it connects by itself, or not at all (login, logout)
	flags   func(fs *flag.FlagSet)
	run     func(ctx context.Context, args []string) error
}

func (c *cli) leaf(l leaf) *ffcli.Command {
	fs := c.flagSet(l.name)
	if l.flags != nil {
		l.flags(fs)
	}
	cmd := &ffcli.Command{
		Name: l.name, ShortUsage: "rally " + l.usage, ShortHelp: l.short, LongHelp: l.long,
		FlagSet: fs, UsageFunc: c.recordUsage,
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		c.usageOf, c.flags = cmd, fs
		args, err := parseInterspersed(fs, args)
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{msg: err.Error()}
		}
		switch {
		case len(args) < l.minArgs:
			return usagef("too few arguments")
		case len(args) > l.maxArgs:
			return usagef("unexpected argument %q", args[l.maxArgs])
		}
		if !l.offline {
			if err := c.connect(); err != nil {
				return err
			}
		}
		return l.run(ctx, args)
	}
	return cmd
}

// parseInterspersed parses flags that stand after positional arguments too, as in
// `rally events update vigil --capacity 200`: the flag package stops at the first
// argument that is not a flag. It returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(positional, rest...), nil // everything after "--" is positional
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// recordUsage is every command's UsageFunc. The flag package calls it on -h and on
// errors alike; run decides which of the two to print.
func (c *cli) recordUsage(cmd *ffcli.Command) string {
	c.usageOf = cmd
	return c.usage(cmd)
}

// usage formats a command's help: its own flags in full, the global ones in full only
// for the root.
func (c *cli) usage(cmd *ffcli.Command) string {
	if cmd == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n", cmd.ShortUsage)
	if cmd.ShortHelp != "" {
		fmt.Fprintf(&b, "\n%s.\n", upperFirst(cmd.ShortHelp))
	}
	if cmd.LongHelp != "" {
		fmt.Fprintf(&b, "\n%s\n", cmd.LongHelp)
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	if len(cmd.Subcommands) > 0 {
		fmt.Fprintf(tw, "\nCOMMANDS\n")
		for _, s := range cmd.Subcommands {
			fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.ShortHelp)
		}
	}
	isRoot := cmd.Name == ""
	heading := "\nFLAGS\n"
	if isRoot {
		heading = "\nGLOBAL FLAGS (also after any command)\n"
	}
	cmd.FlagSet.VisitAll(func(f *flag.Flag) {
		if globalFlags[f.Name] != isRoot {
			return
		}
		fmt.Fprint(tw, heading)
		heading = ""
		value, text := flag.UnquoteUsage(f)
		if value != "" {
			value = " " + strings.ToUpper(value)
		}
		if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "[]" {
			text += " (default " + def + ")"
		}
		fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, value, text)
	})
	tw.Flush()
	if !isRoot {
		fmt.Fprintf(&b, "\nGlobal flags such as --server, --json and --token: see rally --help.\n")
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
