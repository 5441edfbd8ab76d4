package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Exit codes.
const (
	exitOK       = 0
	exitProblems = 1 // check found problems, a query or a write failed, the configuration is wrong
	exitUsage    = 2 // unknown subcommand, bad flags or arguments
)

func main() {
	// go-redis logs failed dials on its own; the command reports them.
	redis.SetLogger(quietLogger{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, e *env, args []string) int
}

// commands is set in init: the subcommands refer to it for their usage.
var commands []command

func init() {
	commands = []command{
		{"check", "", "prove the merchant configuration works: keys, certificate, trust, real signed calls", runCheck},
		{"query", "[-json] [-transfer | -transfer-bill-no | -grants] BILLNO...", "the platform's state of red packets, or of transfer bills", runQuery},
		{"billno", "[-campaign KEY] [-attempts N] [-transfer] OPENID...", "the bill numbers of a grant", runBillno},
		{"reconcile", "[-openids FILE [-transfer]] [-resolve] [-rate N]", "the stored state of every grant beside the platform's, as CSV, on either rail", runReconcile},
		{"cancel", "[-campaign NAME] [-openids FILE [-key KEY]] [-dry-run] [-wait DURATION]", "at a campaign's end, cancel the transfer bills still waiting for the users' confirmation and release their budget once the platform confirms", runCancel},
		{"budget", "[-campaign NAME] [-open | -rebuild [-rail RAIL] [-openids FILE]]", "a campaign's budget account: show it, open a new one, or rebuild a lost one from the platform", runBudget},
		{"fake", "[-addr HOST:PORT] [-dir DIR]", "run a fake WeChat Pay host and print the HONGBAO_* lines that use it", runFake},
	}
}

// env is what a subcommand works with.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	now            func() time.Time // nil: time.Now
}

// clock returns e's clock.
func (e *env) clock() func() time.Time {
	if e.now == nil {
		return time.Now
	}
	return e.now
}

// errorf reports an error on stderr, prefixed with the command name.
func (e *env) errorf(format string, a ...any) {
	fmt.Fprintf(e.stderr, "hongbao: "+format+"\n", a...)
}

// run runs the command line args (without the program name) and returns
// the exit code. Every input comes through its parameters, so that tests
// run it in process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runEnv(ctx, &env{getenv: getenv, stdout: stdout, stderr: stderr}, args)
}

// runEnv runs args with e.
func runEnv(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(e.stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	e.errorf("unknown command %q", args[0])
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `hongbao operates a campaign paid through WeChat Pay: APIv2 red packets, or
APIv3 merchant transfers shown as red packets. It reads the merchant
configuration from the same HONGBAO_* variables as the example server
(HONGBAO_MCH_ID, HONGBAO_APPID, HONGBAO_API_KEY, HONGBAO_CERT_FILE and
HONGBAO_KEY_FILE or HONGBAO_P12_FILE, HONGBAO_BASE_URL, HONGBAO_CA_FILE,
HONGBAO_BILLNO_KEY, HONGBAO_CAMPAIGN, HONGBAO_MAX_ATTEMPTS, HONGBAO_REDIS_URL)
and, for APIv3, HONGBAO_APIV3_KEY, HONGBAO_PUBLIC_KEY_ID and
HONGBAO_PUBLIC_KEY_FILE or HONGBAO_PLATFORM_CERTS, and HONGBAO_CERT_SERIAL.

Usage:

`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %s\n        %s\n", strings.TrimSpace("hongbao "+c.name+" "+c.args), c.summary)
	}
	fmt.Fprint(w, `
Run "hongbao COMMAND -h" for the flags of a command.
`)
}

// newFlags returns the flag set of a subcommand, writing to stderr.
func (e *env) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("hongbao "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	for _, c := range commands {
		if c.name == name {
			fs.Usage = func() {
				fmt.Fprintf(e.stderr, "Usage: %s\n\n%s.\n", strings.TrimSpace("hongbao "+c.name+" "+c.args), upperFirst(c.summary))
				if hasFlags(fs) {
					fmt.Fprintln(e.stderr, "\nFlags:")
					fs.PrintDefaults()
				}
			}
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parse parses args, flags and operands in any order (flags may follow
// the operands), and returns the operands. done is set with the exit code
// when the command must stop: -h (0) or a bad flag (2).
func parse(fs *flag.FlagSet, args []string) (operands []string, code int, done bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, true
			}
			return nil, exitUsage, true
		}
		args = fs.Args()
		if len(args) == 0 {
			return operands, 0, false
		}
		operands = append(operands, args[0])
		args = args[1:]
	}
}

// usageError reports a misuse of the command line.
func (e *env) usageError(fs *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(e.stderr, "%s: "+format+"\n", append([]any{fs.Name()}, a...)...)
	fs.Usage()
	return exitUsage
}
