package server

import "testing"

// The app's exception is the last traceback's, unless that one is a server ending its worker.
func TestAppException(t *testing.T) {
	for log, want := range map[string]string{
		"": "",
		"Traceback (most recent call last):\n  File \"app.wsgi\", line 1, in <module>\n    raise ImportError('x')\nImportError: x\n": "ImportError: x",
		// gunicorn's abort of a worker that timed out, after the app's own failure.
		"Traceback (most recent call last):\n  File \"a\"\nValueError: bad\n" +
			"[2026-12-02 04:13:11 +0000] [2796] [CRITICAL] WORKER TIMEOUT (pid:2801)\nException in worker\n" +
			"Traceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/gunicorn/workers/base.py\", line 203, in handle_abort\n    sys.exit(1)\nSystemExit: 1\n": "ValueError: bad",
		"Traceback (most recent call last):\n  File \"b\"\nSystemExit: 1\n": "",
	} {
		if got := AppException([]byte(log)); got != want {
			t.Errorf("AppException(%q) = %q, want %q", log, got, want)
		}
	}
}
