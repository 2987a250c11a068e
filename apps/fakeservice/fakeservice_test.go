package fakeservice

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// python is Debian's interpreter, the one mod_wsgi embeds and the python3-* packages are for.
const python = "/usr/bin/python3"

// driver loads the app like mod_wsgi would (exec of the script file) and calls it for each
// path given, printing one JSON line per response.
const driver = `
import json, sys, types
m = types.ModuleType("app"); m.__file__ = sys.argv[1]
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), m.__dict__)
for path in sys.argv[2:]:
    got = {}
    def start_response(status, headers):
        got["status"], got["headers"] = status, dict(headers)
    body = b"".join(m.application({"PATH_INFO": path, "wsgi.multithread": False, "wsgi.multiprocess": True}, start_response))
    got["body"] = body.decode()
    print(json.dumps(got))
`

func runApp(t *testing.T, env []string, paths ...string) ([]map[string]any, string, error) {
	t.Helper()
	dir := t.TempDir()
	app, conductor, err := Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(conductor); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, append([]string{"-c", driver, app}, paths...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1"}, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if jerr := json.Unmarshal([]byte(line), &m); jerr != nil {
			t.Fatalf("%v: %s", jerr, line)
		}
		res = append(res, m)
	}
	return res, stderr.String(), err
}

// Without a broker: / and /status answer with the timing headers, /call says why it cannot,
// and the settings reach /status. (Broker-touching paths are covered by internal/stack.)
func TestAppWithoutBroker(t *testing.T) {
	res, stderr, err := runApp(t, []string{"WSGILAB_MONKEY_PATCH=1", "WSGILAB_HEARTBEAT=pthread",
		"WSGILAB_HEARTBEAT_TIMEOUT=7", "WSGILAB_IMPORT_COST=0.2", "WSGILAB_TOPIC=t1"}, "/", "/status", "/call", "/nope")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if len(res) != 4 {
		t.Fatalf("want 4 responses, got %v\n%s", res, stderr)
	}
	for _, r := range res {
		h := r["headers"].(map[string]any)
		if h["X-App-Time-Us"] == nil || h["X-Pid"] == nil {
			t.Errorf("missing timing headers: %v", r)
		}
	}
	if res[0]["status"] != "200 OK" || res[0]["body"] != "ok\n" {
		t.Errorf("/: %v", res[0])
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(res[1]["body"].(string)), &st); err != nil {
		t.Fatal(err)
	}
	if st["monkey_patched"] != true || st["heartbeat"] != "pthread" || st["heartbeat_timeout"] != 7.0 ||
		st["topic"] != "t1" || st["transport"] != false || st["app_load_seconds"].(float64) < 0.2 {
		t.Errorf("/status: %v", st)
	}
	if !strings.HasPrefix(res[2]["status"].(string), "503") || !strings.HasPrefix(res[3]["status"].(string), "404") {
		t.Errorf("/call, /nope: %v %v", res[2], res[3])
	}
	if !strings.Contains(stderr, "INFO wsgilab.fakeservice [-] fakeservice loaded") {
		t.Errorf("load line not logged to stderr: %s", stderr)
	}
}

func TestAppRejectsUnknownHeartbeat(t *testing.T) {
	_, stderr, err := runApp(t, []string{"WSGILAB_HEARTBEAT=sometimes"}, "/")
	if err == nil || !strings.Contains(stderr, "WSGILAB_HEARTBEAT must be green, pthread or off") {
		t.Fatalf("err %v, stderr %s", err, stderr)
	}
}

func TestConductorNeedsURL(t *testing.T) {
	dir := t.TempDir()
	_, conductor, err := Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, conductor)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "WSGILAB_TRANSPORT_URL is not set") {
		t.Fatalf("err %v: %s", err, out)
	}
}
