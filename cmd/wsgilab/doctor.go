package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"wsgilab/internal/doctor"
)

// doctor: read a deployment's configuration and predict, from what the lab measured, which of
// the write-ups' failures it is exposed to. The work is internal/doctor; this file maps flags
// to its Inputs and the report to stdout and the exit code.

const doctorUsage = `Usage:
  wsgilab doctor [--apache DIR|FILE] [--uwsgi FILE] [--gunicorn FILE|ARGS] [--oslo FILE...]
                 [--app FILE] [--env-file FILE] [--json]

Reads a deployment's configuration, any subset of: Apache + mod_wsgi (a directory such as
/etc/apache2, following its Include and IncludeOptional, or one vhost file), a uWSGI ini, gunicorn's
gunicorn.conf.py or command line, the [oslo_messaging_rabbit] options of nova.conf-style files,
the WSGI file (read, never run: does it call eventlet.monkey_patch() at import, does it use
oslo.messaging), and files of the app's environment. With no input it reads /etc/apache2.

Each finding says its severity, the mechanism, what the lab measured, the configuration lines it
rests on (file:line), and the 'wsgilab run' command that reproduces it with that configuration.
Per service it predicts the heartbeat scenario's verdict (STABLE, DROPPED, ERROR).

Exit code: 0 no finding, 1 findings, 2 input that cannot be read.

Examples:
  wsgilab doctor
  wsgilab doctor --apache /etc/httpd/conf.d/10-nova_api_wsgi.conf --oslo /etc/nova/nova.conf --app /usr/bin/nova-api-wsgi
  wsgilab doctor --uwsgi /etc/uwsgi/apps-enabled/placement.ini --oslo /etc/placement/placement.conf --json
  wsgilab doctor --gunicorn "gunicorn -k eventlet -w 4 myapp.wsgi:application"

Options:
`

func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("doctor", pflag.ContinueOnError)
	fs.SortFlags = false
	var in doctor.Inputs
	fs.StringArrayVar(&in.Apache, "apache", nil, "Apache configuration: a directory (its apache2.conf or httpd.conf) or a file")
	fs.StringArrayVar(&in.UWSGI, "uwsgi", nil, "uWSGI ini file (FILE or FILE:section)")
	fs.StringArrayVar(&in.Gunicorn, "gunicorn", nil, "gunicorn.conf.py, a file holding gunicorn's command line, or the command line itself")
	fs.StringArrayVar(&in.Oslo, "oslo", nil, "oslo.config file or directory with [oslo_messaging_rabbit] (nova.conf); repeat for several, later ones win")
	fs.StringVar(&in.App, "app", "", "the WSGI file (default: the script each server configuration names)")
	fs.StringArrayVar(&in.EnvFiles, "env-file", nil, "the app's environment, KEY=value lines (systemd EnvironmentFile=, Debian's envvars)")
	asJSON := fs.Bool("json", false, "print the report as JSON (kind wsgilab.doctor/v1)")
	if code, done := parseFlags(fs, doctorUsage, args, stdout, stderr); done {
		return code
	}
	if rest := fs.Args(); len(rest) > 0 {
		fmt.Fprintf(stderr, "wsgilab doctor: unexpected arguments %q (see 'wsgilab doctor --help')\n", rest)
		return 2
	}
	// Everything Read can fail on is input it cannot read (a missing file, a value of the wrong
	// type): one line, exit 2.
	d, err := doctor.Read(in)
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab doctor: %s\n", oneLine(err))
		return 2
	}
	r := doctor.Diagnose(d)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(stderr, "wsgilab doctor: %v\n", err)
			return 1
		}
	} else {
		r.WriteText(stdout)
	}
	if len(r.Findings) > 0 {
		return 1
	}
	return 0
}
