// Command wsgilab reproduces, measures and compares how a Python web service behaves under
// different server execution models, on the real stack. Each subcommand lives in its own file
// and registers itself in commands; main only dispatches.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: it parses its own flags from args and returns the exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is filled by the init functions of the subcommand files.
var commands = map[string]command{}

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
