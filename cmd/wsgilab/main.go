// Command wsgilab reproduces, measures and compares how a Python web service behaves under
// different server execution models, on the real stack. Each subcommand lives in its own file
// and is listed in commands; main only dispatches.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/pflag"
)

// command is one subcommand: it parses its own flags from args and returns the exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands are the subcommands, each in its own file.
var commands = map[string]command{
	"bench":   {"ApacheBench-compatible load generator (ab's options and report, wrk's speed)", runBench},
	"compare": {"compare saved bench or run results, with confidence intervals and a significance test", runCompare},
	"doctor":  {"read a deployment's server and oslo.messaging config: the risks the lab measured, each with its lines and a run", runDoctor},
	"merge":   {"join the outputs of a sharded run (run --shard I/N) into one run.json and print its table", runMerge},
	"report":  {"write a run's (or a bench result's) self-contained HTML report: verdicts and charts", runReport},
	"run":     {"run a scenario across a matrix of stack configurations and print verdicts with evidence", runRun},
	"up":      {"bring one stack configuration up and keep it running until Ctrl-C", runUp},
	"watch":   {"a live read-only view of a deployment's AMQP connections per process and the broker's heartbeat closes", runWatch},
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wsgilab: unknown command %q (see 'wsgilab --help')\n", args[0])
		return 2
	}
	return cmd.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "wsgilab — reproduce and compare how a Python WSGI service behaves under Apache MPMs,")
	fmt.Fprintln(w, "mod_wsgi modes and eventlet/native threads, on the real stack (Apache, mod_wsgi, RabbitMQ).")
	fmt.Fprintln(w, "\nUsage: wsgilab <command> [options]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'wsgilab <command> --help' for a command's options.")
}

// parseFlags parses a subcommand's options. --help prints usage and the options (exit 0); a bad
// option is one line naming the command (exit 2). done says the caller returns code at once.
func parseFlags(fs *pflag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(io.Discard) // errors are printed here, in one line
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, usage+fs.FlagUsages())
			return 0, true
		}
		fmt.Fprintf(stderr, "wsgilab %s: %v (see 'wsgilab %s --help')\n", fs.Name(), err, fs.Name())
		return 2, true
	}
	return 0, false
}
