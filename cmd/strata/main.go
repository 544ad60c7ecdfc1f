// Command strata is the Strata broker and its command-line client.
//
//	strata server [flags]                   run a node (Kafka listener, HTTP, hot log, tiering)
//	strata topic create|list|describe|delete|alter ...
//	strata produce TOPIC                    one record per stdin line
//	strata consume TOPIC [--group G] [--from-beginning] [--max N] [--to-end]
//	strata cost [--window 1h] [--json]      a node's object-storage cost report
//	strata compact [--json]                 run a node's merge passes now
//	strata sql "SELECT ..." [--format F]    SQL over every topic, across the tiers
//	strata search TOPIC [--q TEXT] [--where f=v] [--from 1h]   newest matching records
//	strata dev cluster up|down|status       a local cluster: MinIO, 3 NATS servers, 3 nodes
//	strata version
//
// Every flag can also be set from the environment as STRATA_<FLAG>, upper case with dashes as
// underscores (--data-dir → STRATA_DATA_DIR). A flag on the command line wins over the environment.
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
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `strata — a Kafka-compatible log with tiered storage

Usage:
  strata server [flags]                       run a node
  strata topic create TOPIC [--partitions N] [--config k=v ...]
  strata topic list | describe TOPIC | delete TOPIC | alter TOPIC --config k=v [--partitions N]
  strata produce TOPIC [--key-separator SEP]   records from stdin, one per line
  strata consume TOPIC [--group G] [--from-beginning] [--max N] [--to-end]
  strata cost [--window D] [--json] [--price NAME=USD ...]   a node's object-storage cost report
  strata compact [--json]                     run a node's merge passes now and say what they did
  strata acl add|list|remove [--principal User:NAME] [--operation OP ...] [--topic T | --group G | ...]
  strata sql "SELECT ..." [--format table|ndjson|csv|arrow]   SQL over every topic
  strata search TOPIC [--q TEXT] [--where FIELD=VALUE ...] [--from 1h] [--to T] [--limit N] [--histogram 1m]
  strata dev cluster up|down|status [--dir DIR]   a local cluster: MinIO, 3 NATS servers, 3 nodes
  strata version

Run "strata <command> -h" for a command's flags. Client commands take --bootstrap (default
127.0.0.1:9092, env STRATA_BOOTSTRAP); cost, compact, sql and search take --http-addr (default 127.0.0.1:8080) and,
for a node with HTTPS or users, --tls-ca (or --http-tls) and --sasl-user (password: env
STRATA_SASL_PASSWORD).
On a terminal, long topic create, produce and consume runs show progress on stderr; elsewhere
they write one summary line there.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code: 0 success, 1 failure, 2 usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch args[0] {
	case "server":
		err = runServer(ctx, args[1:], stderr)
	case "topic":
		err = runTopic(ctx, args[1:], stdout, stderr)
	case "produce":
		err = runProduce(ctx, args[1:], stdin, stdout, stderr)
	case "consume":
		err = runConsume(ctx, args[1:], stdout, stderr)
	case "cost":
		err = runCost(ctx, args[1:], stdout)
	case "compact":
		err = runCompact(ctx, args[1:], stdout)
	case "acl":
		err = runACL(ctx, args[1:], stdout)
	case "sql":
		err = runSQL(ctx, args[1:], stdout, stderr)
	case "search":
		err = runSearch(ctx, args[1:], stdout, stderr)
	case "dev":
		err = runDev(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "strata %s\n", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "strata: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "strata %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "strata %s: %v\n", args[0], err)
		return 1
	}
}

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// parseFlags parses args into fs after filling unset flags from STRATA_<FLAG> environment variables.
// Positional arguments may come before or after the flags.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stderr)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || envErr != nil {
			return
		}
		key := "STRATA_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = usagef("%s=%q: %v", key, v, err)
			}
		}
	})
	return positional, envErr
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
