package doctor

import (
	"os"
	"path/filepath"
)

// CellInputs are the inputs that describe one cell of a wsgilab run, read from the cell's stack
// directory (<run dir>/<cell>/stack, kept by `wsgilab run --keep`): the server's configuration
// as wsgilab started it (apache/httpd.conf, uwsgi/uwsgi.ini or gunicorn/gunicorn.conf.py), the
// environment the server and the app got (environment), and the oslo.messaging options the app
// applied (app/oslo.conf); the app is the one the configuration names. These are the file
// names internal/stack and internal/server write. Doctor reads a cell as it reads a deployment:
// this is what the closed loop compares with the cell's measured verdict.
func CellInputs(stackDir string) Inputs {
	in := Inputs{}
	if f := filepath.Join(stackDir, "environment"); fileExists(f) {
		in.EnvFiles = append(in.EnvFiles, f)
	}
	if f := filepath.Join(stackDir, "app", "oslo.conf"); fileExists(f) {
		in.Oslo = append(in.Oslo, f)
	}
	for _, c := range []struct {
		file string
		into *[]string
	}{
		{filepath.Join(stackDir, "apache", "httpd.conf"), &in.Apache},
		{filepath.Join(stackDir, "uwsgi", "uwsgi.ini"), &in.UWSGI},
		{filepath.Join(stackDir, "gunicorn", "gunicorn.conf.py"), &in.Gunicorn},
	} {
		if _, err := os.Stat(c.file); err == nil {
			*c.into = append(*c.into, c.file)
		}
	}
	return in
}
