package doctor

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Oslo is the [oslo_messaging_rabbit] options of a service's configuration files (nova.conf and
// the like), with oslo.messaging 14.0.3's defaults (Debian 12's, the one the lab runs) where a
// file does not set them. Several files are read in order, a later one winning, as oslo.config
// does with several --config-file.
//
// JSON: {"heartbeat_timeout_threshold": 60, "heartbeat_rate": 2, "heartbeat_in_pthread": false,
// "rabbit_retry_interval": 1, "rabbit_retry_backoff": 2, "rabbit_interval_max": 30,
// "kombu_reconnect_delay": 1, "lines": {"heartbeat_in_pthread": Line, ...}}
type Oslo struct {
	HeartbeatTimeout    int     `json:"heartbeat_timeout_threshold"`
	HeartbeatRate       float64 `json:"heartbeat_rate"`
	HeartbeatInPthread  bool    `json:"heartbeat_in_pthread"`
	RabbitRetryInterval int     `json:"rabbit_retry_interval"`
	RabbitRetryBackoff  int     `json:"rabbit_retry_backoff"`
	RabbitIntervalMax   int     `json:"rabbit_interval_max"`
	KombuReconnectDelay float64 `json:"kombu_reconnect_delay"`
	// Lines are where each option set was set, by option name.
	Lines map[string]Line `json:"lines,omitempty"`
}

// DefaultOslo is oslo.messaging 14.0.3's defaults.
func DefaultOslo() *Oslo {
	return &Oslo{HeartbeatTimeout: 60, HeartbeatRate: 2, RabbitRetryInterval: 1, RabbitRetryBackoff: 2,
		RabbitIntervalMax: 30, KombuReconnectDelay: 1, Lines: map[string]Line{}}
}

// ReadOslo reads the [oslo_messaging_rabbit] section of an oslo.config file (or of every *.conf
// in a directory, in order, as --config-dir does) over what was read before. A value that is
// not of its option's type is an input error, as oslo.config refuses it at start.
func (d *Deployment) ReadOslo(path string) error {
	files := []string{path}
	if st, err := os.Stat(path); err != nil {
		return inputErr("--oslo: %v", err)
	} else if st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.conf"))
		sort.Strings(files)
	}
	if d.Oslo == nil {
		d.Oslo = DefaultOslo()
	}
	for _, f := range files {
		if err := d.readOsloFile(f); err != nil {
			return err
		}
	}
	return nil
}

func (d *Deployment) readOsloFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return inputErr("--oslo: %v", err)
	}
	d.read(path)
	o := d.Oslo
	section := ""
	for i, raw := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(raw)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
			continue
		}
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			section = strings.TrimSpace(t[1 : len(t)-1])
			continue
		}
		if section != "oslo_messaging_rabbit" {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			k, v, ok = strings.Cut(t, ":")
		}
		if !ok {
			return inputErr("%s:%d: not an option line: %s", path, i+1, t)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		l := Line{File: path, Line: i + 1, Text: t}
		bad := func(want string) error {
			return inputErr("%s:%d: %s = %q is not %s", path, i+1, k, v, want)
		}
		switch k {
		case "heartbeat_timeout_threshold", "rabbit_retry_interval", "rabbit_retry_backoff", "rabbit_interval_max":
			n, err := strconv.Atoi(v)
			if err != nil {
				return bad("an integer")
			}
			*map[string]*int{"heartbeat_timeout_threshold": &o.HeartbeatTimeout, "rabbit_retry_interval": &o.RabbitRetryInterval,
				"rabbit_retry_backoff": &o.RabbitRetryBackoff, "rabbit_interval_max": &o.RabbitIntervalMax}[k] = n
		case "heartbeat_rate", "kombu_reconnect_delay":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return bad("a number")
			}
			*map[string]*float64{"heartbeat_rate": &o.HeartbeatRate, "kombu_reconnect_delay": &o.KombuReconnectDelay}[k] = f
		case "heartbeat_in_pthread":
			bv, ok := osloBool(v)
			if !ok {
				return bad("a boolean")
			}
			o.HeartbeatInPthread = bv
		default:
			continue
		}
		o.Lines[k] = l
	}
	return nil
}

// osloBool reads a boolean as oslo.config does.
func osloBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true", "1", "on", "yes":
		return true, true
	case "false", "0", "off", "no":
		return false, true
	}
	return false, false
}

// line is where option k was set, or a line saying it is the default.
func (o *Oslo) line(k string) (Line, bool) {
	l, ok := o.Lines[k]
	return l, ok
}
