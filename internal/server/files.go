package server

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// RunUser is the account every server's workers run as when wsgilab runs as root (Apache's
// children and mod_wsgi daemons, uWSGI's and gunicorn's workers): it must be able to read the
// app and traverse the cell's directory.
const RunUser, RunGroup = "www-data", "www-data"

// CheckApp checks that the WSGI script exists and that www-data can read it: every server's
// workers run as www-data, and a script under /root (mode 0700) would only fail at the first
// request, with a 500 and a "Permission denied" in the server's log.
func CheckApp(path string) error {
	if path == "" {
		return errors.New("no WSGI app file given")
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("WSGI app %q must be an absolute path", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("WSGI app %s does not exist", path)
		}
		return fmt.Errorf("WSGI app: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("WSGI app %s is not a regular file", path)
	}
	if os.Geteuid() != 0 {
		return nil // the server then runs as us, who can read it (we just stat'ed it)
	}
	if !otherCan(st, 0o4) {
		return fmt.Errorf("WSGI app %s is not readable by %s (mode %v); chmod o+r it", path, RunUser, st.Mode().Perm())
	}
	return CheckTraversable(filepath.Dir(path))
}

// CheckTraversable returns an error naming the first directory on the way to dir (dir
// included) that www-data cannot enter.
func CheckTraversable(dir string) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if !otherCan(st, 0o1) {
			return fmt.Errorf("directory %s is not traversable by %s (mode %v); chmod o+x it or use another directory", d, RunUser, st.Mode().Perm())
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}

// otherCan reports whether www-data has permission bit (4 read, 1 execute) on st: through the
// owner bits when it owns the file, else through the "other" bits (group membership is not
// worth resolving for wsgilab's root-owned directories).
func otherCan(st os.FileInfo, bit os.FileMode) bool {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == runUID() {
		return st.Mode().Perm()&(bit<<6) != 0
	}
	return st.Mode().Perm()&bit != 0
}

var runUIDOnce = sync.OnceValue(func() int {
	u, err := user.Lookup(RunUser)
	if err != nil {
		return -1
	}
	id, err := strconv.Atoi(u.Uid)
	if err != nil {
		return -1
	}
	return id
})

func runUID() int { return runUIDOnce() }
