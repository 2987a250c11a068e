package observe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Format is a log line layout: how to take the header (time, level, pid) off a line.
type Format string

const (
	// FormatRabbit: RabbitMQ 3.9+ file log, "2026-11-26 11:43:53.108995+00:00 [error] <0.961.0> msg".
	// One record may span lines that repeat the same header.
	FormatRabbit Format = "rabbitmq"
	// FormatApache: Apache 2.4 error log, "[Thu Nov 26 11:43:25.659011 2026] [wsgi:error]
	// [pid 11075:tid 11075] [client 127.0.0.1:34138] msg"; the time is local, without a zone.
	FormatApache Format = "apache"
	// FormatPython: oslo.log's default, "2026-11-26 11:43:56.115 11865 ERROR name [-] msg";
	// local time. Lines without a header (tracebacks) keep the previous line's time.
	FormatPython Format = "python"
	// FormatUWSGI: uWSGI's log (its stderr): its own lines carry no time ("spawned uWSGI worker
	// 1 (pid: 15034, cores: 1)"), the app's stderr lines are FormatPython's, request lines are
	// the access log's layout. An untimed line takes the time of the last timed one.
	FormatUWSGI Format = "uwsgi"
	// FormatGunicorn: gunicorn's error log, "[2026-12-02 03:40:41 +0000] [15133] [INFO] msg"; the
	// app's stderr lines in it are FormatPython's.
	FormatGunicorn Format = "gunicorn"
)

// LogFile is one file to tail.
type LogFile struct {
	Path string
	// Source labels the events ("broker", "apache", "app").
	Source string
	Format Format
	// Offset is where to start: the file's size when the cell started, so a broker log shared
	// by the cells of a run is read from this cell's beginning. The file may not exist yet.
	Offset int64
}

// LogTail is the log probe: on every Sample it reads what was appended to its files since the
// last one and turns the lines that match a signature rule into Events.
type LogTail struct {
	name  string
	files []*tailedFile
	// Rules defaults to the package table.
	Rules []Rule
	// Vhost, when set, drops broker events of connections known to be in another vhost (the
	// broker log is shared by every cell of a run). Events whose vhost is unknown are kept:
	// the verdict attributes them by client port.
	Vhost string
	// Location is the zone of timestamps written without one (Apache, Python): time.Local
	// when nil, since the logs are written on this machine.
	Location *time.Location

	// conns remembers, per broker Erlang process, what its earlier lines said (vhost, name),
	// because the missed-heartbeats close names neither the vhost nor the user.
	conns map[string]*brokerConnInfo
}

type brokerConnInfo struct {
	vhost, user, connection, clientName string
	clientPort                          int
}

type tailedFile struct {
	LogFile
	f       *os.File
	ino     uint64
	offset  int64
	partial []byte
	// pending is the last RabbitMQ record read: it is complete only when a line with another
	// header follows or a poll finds nothing new.
	pending *record
	// last is the header of the last line, for header-less continuation lines.
	lastTime  time.Time
	lastLevel string
	lastPID   int
}

// record is one logical log entry: its header and its message lines.
type record struct {
	key      string // RabbitMQ: the header text, equal on every line of a record
	t        time.Time
	level    string
	erlPID   string
	pid      int
	lines    []string
	messages []string
}

// NewLogTail tails files under the probe name name ("logs" when empty).
func NewLogTail(name string, files ...LogFile) *LogTail {
	if name == "" {
		name = "logs"
	}
	lt := &LogTail{name: name, Rules: Rules, conns: map[string]*brokerConnInfo{}}
	for _, f := range files {
		lt.files = append(lt.files, &tailedFile{LogFile: f, offset: f.Offset})
	}
	return lt
}

func (lt *LogTail) Name() string { return lt.name }

// Sample reads every file's new lines. A file that does not exist yet is not an error.
func (lt *LogTail) Sample(_ context.Context, now time.Time) (any, []Event, error) {
	var events []Event
	var errs []error
	for _, tf := range lt.files {
		ev, err := lt.poll(tf, now, false)
		events = append(events, ev...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", tf.Path, err))
		}
	}
	return nil, events, errors.Join(errs...)
}

// Flush reads what is left and emits the records held back, at the end of a run.
func (lt *LogTail) Flush(now time.Time) []Event {
	var events []Event
	for _, tf := range lt.files {
		ev, _ := lt.poll(tf, now, true)
		events = append(events, ev...)
	}
	return events
}

// Close closes the files.
func (lt *LogTail) Close() error {
	for _, tf := range lt.files {
		if tf.f != nil {
			tf.f.Close()
			tf.f = nil
		}
	}
	return nil
}

func (lt *LogTail) poll(tf *tailedFile, now time.Time, final bool) ([]Event, error) {
	lines, err := tf.readLines()
	var recs []*record
	for _, ln := range lines {
		recs = append(recs, lt.parse(tf, ln)...)
	}
	if tf.Format == FormatRabbit {
		// Hold the last record back until it is known to be complete.
		// parse keeps the last record in tf.pending until a line with another header shows
		// it complete; a poll that finds nothing new (or the final one) shows it too.
		if (len(lines) == 0 || final) && tf.pending != nil {
			recs = append(recs, tf.pending)
			tf.pending = nil
		}
	}
	var events []Event
	for _, r := range recs {
		if ev, ok := lt.event(tf, r, now); ok {
			events = append(events, ev)
		}
	}
	return events, err
}

// readLines returns the complete lines appended since the last call. It opens the file when
// it appears, and starts over when the file was truncated or replaced (rotation).
func (tf *tailedFile) readLines() ([]string, error) {
	if tf.f != nil {
		// Replaced (rotated) or truncated: start over on the new content.
		if st, err := os.Stat(tf.Path); err == nil {
			if ino := inode(st); ino != tf.ino || st.Size() < tf.offset {
				tf.f.Close()
				tf.f, tf.offset, tf.partial = nil, 0, nil
			}
		}
	}
	if tf.f == nil {
		f, err := os.Open(tf.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if st.Size() < tf.offset {
			tf.offset = 0 // the offset was taken on an older file
		}
		tf.f, tf.ino = f, inode(st)
	}
	buf := make([]byte, 64<<10)
	var data []byte
	for {
		n, err := tf.f.ReadAt(buf, tf.offset)
		data = append(data, buf[:n]...)
		tf.offset += int64(n)
		if err == io.EOF || n == 0 {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(data) == 0 {
		return nil, nil
	}
	data = append(tf.partial, data...)
	cut := bytes.LastIndexByte(data, '\n')
	if cut < 0 {
		tf.partial = data // no complete line yet: a writer is in the middle of one
		return nil, nil
	}
	tf.partial = append([]byte(nil), data[cut+1:]...)
	return strings.Split(string(data[:cut]), "\n"), nil
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

var (
	rabbitHeader   = regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d) \[(\w+)\] (<[\d.]+>) ?(.*)$`)
	apacheHeader   = regexp.MustCompile(`^\[(\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)? \d{4})\] \[([^\]]*)\] \[pid (\d+)(?::tid \d+)?\] (?:\[(?:client|remote) [^\]]*\] )?(.*)$`)
	pythonHeader   = regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.,]\d+) (\d+) ([A-Z]+) \S+ (.*)$`)
	gunicornHeader = regexp.MustCompile(`^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})\] \[(\d+)\] \[([A-Z]+)\] (.*)$`)
)

// parse turns one physical line into records. For RabbitMQ it extends the pending record when
// the line repeats its header, and returns the records that are complete.
func (lt *LogTail) parse(tf *tailedFile, line string) []*record {
	loc := lt.Location
	if loc == nil {
		loc = time.Local
	}
	switch tf.Format {
	case FormatRabbit:
		m := rabbitHeader.FindStringSubmatch(line)
		if m == nil {
			// A line without a header continues the current record.
			if tf.pending != nil {
				tf.pending.lines = append(tf.pending.lines, line)
				tf.pending.messages = append(tf.pending.messages, line)
				return nil
			}
			return []*record{{t: tf.lastTime, lines: []string{line}, messages: []string{line}}}
		}
		key := m[1] + " " + m[2] + " " + m[3]
		if tf.pending != nil && tf.pending.key == key {
			tf.pending.lines = append(tf.pending.lines, line)
			tf.pending.messages = append(tf.pending.messages, m[4])
			return nil
		}
		t, _ := time.Parse("2006-01-02 15:04:05.999999999-07:00", m[1])
		tf.lastTime = t
		var done []*record
		if tf.pending != nil {
			done = append(done, tf.pending)
		}
		tf.pending = &record{key: key, t: t, level: m[2], erlPID: m[3], lines: []string{line}, messages: []string{m[4]}}
		return done
	case FormatApache:
		m := apacheHeader.FindStringSubmatch(line)
		if m == nil {
			return []*record{{t: tf.lastTime, level: tf.lastLevel, pid: tf.lastPID, lines: []string{line}, messages: []string{line}}}
		}
		// Apache pads the day with a zero or a space; one layout for both after squeezing.
		t, _ := time.ParseInLocation("Mon Jan 2 15:04:05 2006", strings.Join(strings.Fields(m[1]), " "), loc)
		pid, _ := strconv.Atoi(m[3])
		tf.lastTime, tf.lastLevel, tf.lastPID = t, m[2], pid
		return []*record{{t: t, level: m[2], pid: pid, lines: []string{line}, messages: []string{m[4]}}}
	case FormatGunicorn:
		if m := gunicornHeader.FindStringSubmatch(line); m != nil {
			t, _ := time.Parse("2006-01-02 15:04:05 -0700", m[1])
			pid, _ := strconv.Atoi(m[2])
			tf.lastTime, tf.lastLevel, tf.lastPID = t, m[3], pid
			return []*record{{t: t, level: m[3], pid: pid, lines: []string{line}, messages: []string{m[4]}}}
		}
		return lt.parsePython(tf, line, loc, true)
	case FormatUWSGI:
		// uWSGI's own lines name no process in a header: keep the last line's time, not its pid.
		return lt.parsePython(tf, line, loc, false)
	default: // FormatPython and anything else: best effort
		return lt.parsePython(tf, line, loc, true)
	}
}

// parsePython reads an oslo.log line (the app's stderr); a line without its header continues
// the last one (a traceback), keeping its time, level and, when carryPID, its pid.
func (lt *LogTail) parsePython(tf *tailedFile, line string, loc *time.Location, carryPID bool) []*record {
	m := pythonHeader.FindStringSubmatch(line)
	if m == nil {
		pid := 0
		if carryPID {
			pid = tf.lastPID
		}
		return []*record{{t: tf.lastTime, level: tf.lastLevel, pid: pid, lines: []string{line}, messages: []string{line}}}
	}
	t, _ := time.ParseInLocation("2006-01-02 15:04:05.999999999", strings.Replace(m[1], ",", ".", 1), loc)
	pid, _ := strconv.Atoi(m[2])
	tf.lastTime, tf.lastLevel, tf.lastPID = t, m[3], pid
	return []*record{{t: t, level: m[3], pid: pid, lines: []string{line}, messages: []string{m[4]}}}
}

// brokerConnRef finds "<0.961.0> (127.0.0.1:35534 -> 127.0.0.1:45099 - name, vhost: 'v', user: 'u')"
// in the first line of a record.
var (
	brokerConnRef  = regexp.MustCompile(`<[\d.]+> \(([^()]*)\)`)
	brokerConnName = regexp.MustCompile(`^(\S+) -> (\S+?)(?: - (.*?))?(?:, vhost: '([^']*)', user: '([^']*)')?$`)
)

// event matches a record against the rules and builds its Event, updating what is known of
// the broker's connections on the way.
func (lt *LogTail) event(tf *tailedFile, r *record, now time.Time) (Event, bool) {
	side := SideClient
	if tf.Format == FormatRabbit {
		side = SideBroker
	}
	var info *brokerConnInfo
	if side == SideBroker {
		info = lt.learn(r)
	}
	rule, fields, ok := match(lt.Rules, side, strings.Join(r.messages, "\n"))
	if !ok {
		return Event{}, false
	}
	fields.Level = r.level
	if fields.PID == 0 { // a line about another process (a respawned worker) names it
		fields.PID = r.pid
	}
	if side == SideBroker {
		fields.ErlangPID = r.erlPID
	}
	if info != nil {
		fields.Connection = info.connection
		fields.ClientName = info.clientName
		fields.ClientPort = info.clientPort
		if fields.Vhost == "" {
			fields.Vhost = info.vhost
		}
		if fields.User == "" {
			fields.User = info.user
		}
		if strings.HasPrefix(r.messages[0], "closing AMQP connection") {
			delete(lt.conns, r.erlPID) // the process is gone; its pid may be reused much later
		}
		if lt.Vhost != "" && fields.Vhost != "" && fields.Vhost != lt.Vhost {
			return Event{}, false
		}
	}
	if fields.ClientName != "" && fields.ConnectionID == "" {
		// kombu names connections "<argv0>:<pid>:<uuid>" with oslo's connection id as uuid.
		if i := strings.LastIndexByte(fields.ClientName, ':'); i >= 0 && len(fields.ClientName)-i > 30 {
			fields.ConnectionID = fields.ClientName[i+1:]
		}
	}
	t := r.t
	if t.IsZero() {
		t = now
	}
	return Event{
		Time:     t,
		Observed: now,
		Source:   tf.Source,
		File:     tf.Path,
		Rule:     rule.Name,
		Kind:     rule.Kind,
		Line:     strings.Join(r.lines, "\n"),
		Fields:   fields,
	}, true
}

// learn updates and returns what is known about the connection a broker record talks about.
func (lt *LogTail) learn(r *record) *brokerConnInfo {
	if r.erlPID == "" || len(r.messages) == 0 {
		return nil
	}
	info := lt.conns[r.erlPID]
	if m := brokerConnRef.FindStringSubmatch(r.messages[0]); m != nil {
		if n := brokerConnName.FindStringSubmatch(m[1]); n != nil {
			if info == nil {
				info = &brokerConnInfo{}
				lt.conns[r.erlPID] = info
			}
			info.connection = n[1] + " -> " + n[2]
			if i := strings.LastIndexByte(n[1], ':'); i >= 0 {
				info.clientPort, _ = strconv.Atoi(n[1][i+1:])
			}
			if n[3] != "" {
				info.clientName = n[3]
			}
			if n[4] != "" {
				info.vhost, info.user = n[4], n[5]
			}
		}
	}
	if info == nil {
		return nil
	}
	if _, f, ok := match(lt.Rules, SideBroker, r.messages[0]); ok && f.Vhost != "" {
		info.vhost = f.Vhost
		if f.User != "" {
			info.user = f.User
		}
	}
	return info
}
