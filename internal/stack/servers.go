package stack

import (
	"fmt"
	"slices"
	"strings"

	"wsgilab/internal/apache"
	"wsgilab/internal/server"
	"wsgilab/internal/server/gunicorn"
	"wsgilab/internal/server/uwsgi"
)

// launchers are the servers a cell can run the service under, the default first. A server
// added is one package implementing server.Launcher and one line here.
var launchers = []server.Launcher{
	apache.Launcher{},
	uwsgi.Launcher{},
	gunicorn.Launcher{},
}

// Servers lists the servers' names, the default first.
func Servers() []string {
	out := make([]string, len(launchers))
	for i, l := range launchers {
		out[i] = l.Kind()
	}
	return out
}

// launcher finds a server by name ("" is the default, Apache).
func launcher(name string) (server.Launcher, error) {
	if name == "" {
		return launchers[0], nil
	}
	i := slices.IndexFunc(launchers, func(l server.Launcher) bool { return l.Kind() == name })
	if i < 0 {
		return nil, fmt.Errorf("unknown server %q (allowed: %s)", name, strings.Join(Servers(), ", "))
	}
	return launchers[i], nil
}
