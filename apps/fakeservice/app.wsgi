# wsgilab fake service: a WSGI application that behaves like nova-api where it matters for
# the execution-model experiments (see README.md next to this file):
#   * optional eventlet.monkey_patch() at import, before oslo.messaging is imported;
#   * an oslo.messaging RPC transport created at import (like nova.rpc.init() in
#     nova-api's init_application), its first AMQP connection opened lazily by the first
#     request that talks to the broker, then kept in the driver's pool and heartbeated by
#     the driver's heartbeat thread (green or native, depending on the configuration);
#   * an optional CPU cost at import, like loading a large Django/nova application.
# Everything is configured through WSGILAB_* environment variables, which Apache passes to
# os.environ in embedded and daemon mode processes.
import os
import sys
import time

_IMPORT_START = time.time()

MONKEY_PATCH = os.environ.get("WSGILAB_MONKEY_PATCH", "0") == "1"
if MONKEY_PATCH:
    # As nova does: patch before anything imports socket/threading through oslo.
    import eventlet

    eventlet.monkey_patch()

import json
import logging
import socket
import threading

TRANSPORT_URL = os.environ.get("WSGILAB_TRANSPORT_URL", "")
HEARTBEAT = os.environ.get("WSGILAB_HEARTBEAT", "green")
HEARTBEAT_TIMEOUT = int(os.environ.get("WSGILAB_HEARTBEAT_TIMEOUT", "60"))
HEARTBEAT_RATE = int(os.environ.get("WSGILAB_HEARTBEAT_RATE", "2"))
IMPORT_COST = float(os.environ.get("WSGILAB_IMPORT_COST", "0"))
# Seconds "/" waits before answering, like a real view waiting on its database: it keeps a
# worker busy, so a burst needs as many workers as requests in flight (seed 004's app took
# 40-80 ms).
REQUEST_COST = float(os.environ.get("WSGILAB_REQUEST_COST", "0"))
TOPIC = os.environ.get("WSGILAB_TOPIC", "wsgilab")
TCP_KEEPALIVE = int(os.environ.get("WSGILAB_TCP_KEEPALIVE", "0") or 0)
RPC_TIMEOUT = int(os.environ.get("WSGILAB_RPC_TIMEOUT", "10"))
LOG_LEVEL = os.environ.get("WSGILAB_LOG_LEVEL", "INFO").upper()

if HEARTBEAT not in ("green", "pthread", "off"):
    raise ValueError("WSGILAB_HEARTBEAT must be green, pthread or off, not %r" % HEARTBEAT)

# mod_wsgi sends a process's sys.stderr to Apache's error log; the heartbeat experiments grep
# the driver's messages there ("Connection reset", "is unreachable", "Reconnected", heartbeat
# thread errors), so the driver's loggers (and kombu's, amqp's) must reach it at INFO.
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(
    logging.Formatter(
        "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(message)s",
        "%Y-%m-%d %H:%M:%S",
    )
)
LOG = logging.getLogger("wsgilab.fakeservice")
for _name in ("wsgilab", "oslo.messaging", "oslo_messaging", "kombu", "amqp"):
    _lg = logging.getLogger(_name)
    _lg.setLevel(LOG_LEVEL)
    if _handler not in _lg.handlers:
        _lg.addHandler(_handler)
    _lg.propagate = False


def _burn_cpu(seconds):
    """Spend `seconds` of CPU time (not wall time), like importing a large application."""
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        for i in range(10000):
            x += i * i
    return x


if IMPORT_COST > 0:
    _burn_cpu(IMPORT_COST)

from oslo_config import cfg
import oslo_messaging
from oslo_messaging._drivers import impl_rabbit

# The global CONF, as nova uses: oslo.messaging registers some of its options (the RPC
# client's metrics group) only there. No config files and no command line: mod_wsgi's
# sys.argv is not ours to parse.
CONF = cfg.CONF
CONF([], project="wsgilab-fakeservice", default_config_files=[])
# The driver registers these itself when the transport is built, but set_override needs
# them registered first.
CONF.register_opts(impl_rabbit.rabbit_opts, group="oslo_messaging_rabbit")
CONF.set_override("heartbeat_rate", HEARTBEAT_RATE, group="oslo_messaging_rabbit")
if HEARTBEAT == "off":
    CONF.set_override("heartbeat_timeout_threshold", 0, group="oslo_messaging_rabbit")
else:
    CONF.set_override(
        "heartbeat_timeout_threshold", HEARTBEAT_TIMEOUT, group="oslo_messaging_rabbit"
    )
    CONF.set_override(
        "heartbeat_in_pthread", HEARTBEAT == "pthread", group="oslo_messaging_rabbit"
    )

if TCP_KEEPALIVE > 0:
    # The "heartbeat off + TCP keepalive" control. py-amqp always sets SO_KEEPALIVE with a 60 s
    # idle time; this makes the kernel probe an idle AMQP connection after TCP_KEEPALIVE
    # seconds (3 probes, TCP_KEEPALIVE/3 apart). kombu hands transport_options'
    # socket_settings to py-amqp's Connection; oslo.messaging has no option for it.
    _KEEPALIVE = {
        socket.TCP_KEEPIDLE: TCP_KEEPALIVE,
        socket.TCP_KEEPINTVL: max(1, TCP_KEEPALIVE // 3),
        socket.TCP_KEEPCNT: 3,
    }
    _orig_kombu_init = impl_rabbit.kombu.connection.Connection.__init__

    def _kombu_init(self, *args, **kwargs):
        opts = dict(kwargs.get("transport_options") or {})
        opts.setdefault("socket_settings", _KEEPALIVE)
        kwargs["transport_options"] = opts
        _orig_kombu_init(self, *args, **kwargs)

    impl_rabbit.kombu.connection.Connection.__init__ = _kombu_init

TRANSPORT = None
CLIENT = None
if TRANSPORT_URL:
    # Transport (and its connection pool) now, connections on first use: nova-api's pattern.
    TRANSPORT = oslo_messaging.get_rpc_transport(CONF, url=TRANSPORT_URL)
    CLIENT = oslo_messaging.get_rpc_client(
        TRANSPORT, oslo_messaging.Target(topic=TOPIC), timeout=RPC_TIMEOUT
    )

_IMPORT_END = time.time()


def _process_start_time():
    """Unix time at which this process started (from /proc), i.e. when Apache forked it."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            btime = next(int(l.split()[1]) for l in f if l.startswith("btime "))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except Exception:
        return None


def _interpreter_start_time():
    """When this process's Python interpreter was initialised (mod_wsgi's restart_time)."""
    try:
        import mod_wsgi

        return mod_wsgi.process_metrics().get("restart_time")
    except Exception:
        return None


# The process that imported the app. Under a server that imports before forking its workers
# (uWSGI without lazy-apps, gunicorn --preload) it is the master, not the process serving a
# request: requests report os.getpid() at the time.
PID = os.getpid()
PROCESS_START = _process_start_time()
INTERPRETER_START = _interpreter_start_time()
LOG.info(
    "fakeservice loaded in pid %d in %.3fs (monkey_patch=%s heartbeat=%s timeout=%ds rate=%d "
    "import_cost=%.2fs topic=%s tcp_keepalive=%ds)",
    PID, _IMPORT_END - _IMPORT_START, MONKEY_PATCH, HEARTBEAT, HEARTBEAT_TIMEOUT,
    HEARTBEAT_RATE, IMPORT_COST, TOPIC, TCP_KEEPALIVE,
)


def _thread_kind(t):
    """'green' when t is an eventlet green thread, 'native' for an OS thread.

    A threading.Thread is started through the _start_new_thread of the threading module that
    defined its class: eventlet's monkey patch replaces it with a greenlet spawner, while the
    driver's heartbeat_in_pthread path uses eventlet.patcher.original('threading'), an
    unpatched copy. (A green thread's native_id is the id of the OS thread whose eventlet hub
    runs it, e.g. the request thread that opened the connection; /status reports it too.)
    """
    if t is None:
        return None
    start = type(t).start.__globals__.get("_start_new_thread")
    green = getattr(start, "__module__", "").startswith("eventlet")
    return "green" if green else "native"


def _describe_connection(c, role):
    """c is an impl_rabbit.Connection; c.connection its kombu Connection, whose _connection is
    the py-amqp connection (kombu's .connection property would connect: never touch it)."""
    d = {"role": role, "name": getattr(c, "name", None), "connected": False, "local_port": None}
    try:
        amqp_conn = getattr(c.connection, "_connection", None)
        sock = getattr(amqp_conn, "sock", None) if amqp_conn is not None else None
        d["connected"] = bool(amqp_conn is not None and amqp_conn.connected)
        if sock is not None:
            d["local_port"] = sock.getsockname()[1]
            d["so_keepalive"] = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))
            d["tcp_keepidle"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
    except Exception as e:
        d["error"] = repr(e)
    hb = getattr(c, "_heartbeat_thread", None)
    d["heartbeat_thread"] = None
    if hb is not None:
        d["heartbeat_thread"] = {
            "kind": _thread_kind(hb),
            "alive": hb.is_alive(),
            "native_id": getattr(hb, "native_id", None),
        }
    return d


def _connections():
    """The driver's AMQP connections: idle pooled send connections (each with its heartbeat
    thread) and the reply-queue listener of RPC calls. A send connection lent to a request in
    flight is not in the pool and so not listed."""
    if TRANSPORT is None:
        return []
    drv = TRANSPORT._driver
    out = []
    pool = getattr(drv, "_connection_pool", None)
    for item in list(getattr(pool, "_items", []) or []):
        # (ttl_watch, impl_rabbit.Connection)
        conn = item[1] if isinstance(item, tuple) else item
        out.append(_describe_connection(conn, "send"))
    reply = getattr(drv, "_reply_q_conn", None)  # a ConnectionContext around the Connection
    if reply is not None:
        out.append(_describe_connection(getattr(reply, "connection", reply), "reply"))
    return out


def _status(environ):
    try:
        import mod_wsgi

        process_group = mod_wsgi.process_group
        application_group = mod_wsgi.application_group
        threads_per_process = mod_wsgi.threads_per_process
        maximum_processes = mod_wsgi.maximum_processes
    except Exception:
        process_group = application_group = threads_per_process = maximum_processes = None
    conns = _connections()
    kinds = sorted({c["heartbeat_thread"]["kind"] for c in conns if c.get("heartbeat_thread")})
    return {
        "pid": os.getpid(),
        "import_pid": PID,
        "process_start": PROCESS_START,
        "interpreter_start": INTERPRETER_START,
        "app_load_start": _IMPORT_START,
        "app_load_end": _IMPORT_END,
        "app_load_seconds": round(_IMPORT_END - _IMPORT_START, 6),
        "monkey_patched": MONKEY_PATCH,
        "heartbeat": HEARTBEAT,
        "heartbeat_timeout": HEARTBEAT_TIMEOUT,
        "heartbeat_rate": HEARTBEAT_RATE,
        "heartbeat_thread_kind": kinds[0] if len(kinds) == 1 else (kinds or None),
        "tcp_keepalive": TCP_KEEPALIVE,
        "topic": TOPIC,
        "transport": bool(TRANSPORT),
        "process_group": process_group,
        "application_group": application_group,
        "threads_per_process": threads_per_process,
        "maximum_processes": maximum_processes,
        "multithread": environ.get("wsgi.multithread"),
        "multiprocess": environ.get("wsgi.multiprocess"),
        "thread_id": threading.get_ident(),
        "native_thread_id": threading.get_native_id(),
        "active_threads": threading.active_count(),
        "connections": conns,
    }


def _request_id(environ):
    """The request's ?id=... (the last one), or None."""
    rid = None
    for kv in (environ.get("QUERY_STRING") or "").split("&"):
        k, _, v = kv.partition("=")
        if k == "id" and v:
            rid = v
    return rid


_CALLS = {"n": 0}
_CALLS_LOCK = threading.Lock()


def application(environ, start_response):
    t0 = time.perf_counter()
    path = environ.get("PATH_INFO", "/") or "/"
    status, body, ctype = "200 OK", b"", "text/plain"
    try:
        if path == "/":
            if REQUEST_COST > 0:
                time.sleep(REQUEST_COST)
            body = b"ok\n"
        elif path == "/status":
            body = json.dumps(_status(environ), indent=1).encode() + b"\n"
            ctype = "application/json"
        elif path in ("/cast", "/call"):
            if CLIENT is None:
                status, body = "503 Service Unavailable", b"no WSGILAB_TRANSPORT_URL\n"
            else:
                with _CALLS_LOCK:
                    _CALLS["n"] += 1
                    n = _CALLS["n"]
                # A request id (?id=...) is passed on to the conductor, which records every id it
                # receives (WSGILAB_RECEIVED_LOG): what a failover run counts lost and duplicated
                # messages against. Without one the message is what it always was.
                extra = {}
                rid = _request_id(environ)
                if rid:
                    extra["id"] = rid
                if path == "/cast":
                    CLIENT.cast({}, "record", pid=os.getpid(), n=n, **extra)
                    body = b"cast\n"
                else:
                    reply = CLIENT.call({}, "echo", pid=os.getpid(), n=n, **extra)
                    body = json.dumps(reply).encode() + b"\n"
                    ctype = "application/json"
        else:
            status, body = "404 Not Found", b"not found\n"
    except Exception as e:
        LOG.exception("%s failed", path)
        status = "500 Internal Server Error"
        body = ("%s: %s\n" % (type(e).__name__, e)).encode()
    elapsed_us = int((time.perf_counter() - t0) * 1e6)
    start_response(
        status,
        [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("X-App-Time-Us", str(elapsed_us)),
            ("X-Pid", str(os.getpid())),
        ],
    )
    return [body]
