package doctor

import (
	"os"
	"path/filepath"
)

// Inputs are the files doctor reads; any subset. With none, it reads DefaultApache.
type Inputs struct {
	Apache   []string // Apache configuration directories or files
	UWSGI    []string // uWSGI ini files
	Gunicorn []string // gunicorn.conf.py, a file with gunicorn's command line, or the command line
	Oslo     []string // oslo.config files or directories ([oslo_messaging_rabbit])
	App      string   // the WSGI file, for every service (default: each service's own script)
	EnvFiles []string // KEY=value files: the app's environment
}

// DefaultApache is what doctor reads with no input: this machine's Apache.
const DefaultApache = "/etc/apache2"

// Empty says no input was given.
func (in Inputs) Empty() bool {
	return len(in.Apache)+len(in.UWSGI)+len(in.Gunicorn)+len(in.Oslo)+len(in.EnvFiles) == 0 && in.App == ""
}

// Read reads every input into a Deployment: the environment files first, then the servers'
// configurations (which add the variables they set), the oslo.messaging options, and last each
// service's app, whose import-time guards read that environment. An error is an InputError.
func Read(in Inputs) (*Deployment, error) {
	d := &Deployment{Env: Env{}}
	if in.Empty() {
		in.Apache = []string{DefaultApache}
	}
	for _, f := range in.EnvFiles {
		if err := d.ReadEnvFile(f); err != nil {
			return nil, err
		}
	}
	for _, f := range in.Apache {
		if err := d.ReadApache(f); err != nil {
			return nil, err
		}
	}
	for _, f := range in.UWSGI {
		if err := d.ReadUWSGI(f); err != nil {
			return nil, err
		}
	}
	for _, f := range in.Gunicorn {
		if err := d.ReadGunicorn(f); err != nil {
			return nil, err
		}
	}
	for _, f := range in.Oslo {
		if err := d.ReadOslo(f); err != nil {
			return nil, err
		}
	}
	apps := map[string]*App{}
	readApp := func(path string) (*App, error) {
		if a, ok := apps[path]; ok {
			return a, nil
		}
		a, err := d.ReadApp(path)
		if err != nil {
			return nil, err
		}
		apps[path] = a
		return a, nil
	}
	if in.App != "" {
		if _, err := readApp(in.App); err != nil {
			return nil, err
		}
	}
	for _, s := range d.Services {
		path := in.App
		if path == "" {
			path = s.Script
			if path == "" || !filepath.IsAbs(path) {
				d.note("%s: its app (%q) is no file doctor can read; give --app FILE", s.Name, s.Script)
				continue
			}
			if _, err := os.Stat(path); err != nil {
				d.note("%s: its app %s is not on this machine; give --app FILE", s.Name, path)
				continue
			}
		}
		a, err := readApp(path)
		if err != nil {
			return nil, err
		}
		s.App = a
	}
	if in.App != "" && len(d.Services) == 0 {
		d.note("--app without a server configuration: only the oslo.messaging rules apply")
	}
	return d, nil
}
