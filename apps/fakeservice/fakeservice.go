// Package fakeservice carries the Python side of wsgilab inside the binary: the WSGI app under
// test (app.wsgi, an emulated nova-api) and the RPC server that answers it (conductor.py). A
// cell writes them into its run dir, so `wsgilab` works from any directory and the files are
// readable by Apache's www-data children whatever the checkout's permissions.
package fakeservice

import (
	_ "embed"
	"os"
	"path/filepath"
)

var (
	//go:embed app.wsgi
	appWSGI []byte
	//go:embed conductor.py
	conductorPy []byte
)

// File names inside the directory Write fills.
const (
	AppFile       = "app.wsgi"
	ConductorFile = "conductor.py"
)

// Write puts app.wsgi and conductor.py into dir (created 0755, files 0644, both readable by
// www-data) and returns their paths.
func Write(dir string) (app, conductor string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", "", err
	}
	app = filepath.Join(dir, AppFile)
	conductor = filepath.Join(dir, ConductorFile)
	if err := os.WriteFile(app, appWSGI, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(conductor, conductorPy, 0o644); err != nil {
		return "", "", err
	}
	return app, conductor, nil
}
