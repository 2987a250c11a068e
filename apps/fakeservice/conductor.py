#!/usr/bin/python3
# wsgilab fake conductor: the oslo.messaging RPC server that answers the fake service's
# /call (method "echo") and swallows its /cast (method "record"), like nova-conductor answers
# nova-api. It is not the subject of the experiments, so it runs the plain threading executor
# with the driver's default heartbeat and no monkey patching: it never goes quiet on the broker.
#
# Environment: WSGILAB_TRANSPORT_URL (required), WSGILAB_TOPIC (default "wsgilab"),
# WSGILAB_LOG_LEVEL (default INFO), WSGILAB_RECEIVED_LOG (a file: every message that carries a
# request id is recorded there, one JSON line per delivery, duplicates included). Prints
# "conductor ready" on stdout once it consumes.
import json
import logging
import os
import signal
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging

logging.basicConfig(
    stream=sys.stderr,
    level=os.environ.get("WSGILAB_LOG_LEVEL", "INFO").upper(),
    format="%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(message)s",
    datefmt="%Y-%m-%d %H:%M:%S",
)
LOG = logging.getLogger("wsgilab.conductor")

# Seconds a SIGTERM'd conductor waits for oslo.messaging to stop consuming and close.
STOP_WAIT = 1.5


class Received(object):
    """The record of the request ids the conductor received: one JSON line per delivery
    ({"id", "method", "pid": the sender, "t": unix time received}), flushed at once, so that a
    delivery that arrives twice is there twice and nothing received is lost if the conductor
    is killed. The endpoints run in the threading executor's threads, hence the lock."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None
        self.lock = threading.Lock()

    def add(self, method, kwargs):
        if self.f is None or "id" not in kwargs:
            return
        line = json.dumps({"id": kwargs["id"], "method": method, "pid": kwargs.get("pid"), "t": time.time()})
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()


class Endpoint(object):
    target = oslo_messaging.Target(version="1.0")

    def __init__(self, received):
        self.casts = 0
        self.calls = 0
        self.received = received

    def echo(self, ctxt, **kwargs):
        self.calls += 1
        self.received.add("echo", kwargs)
        return {"conductor_pid": os.getpid(), "calls": self.calls, "args": kwargs}

    def record(self, ctxt, **kwargs):
        self.casts += 1
        self.received.add("record", kwargs)


def main():
    url = os.environ.get("WSGILAB_TRANSPORT_URL")
    if not url:
        print("conductor: WSGILAB_TRANSPORT_URL is not set", file=sys.stderr)
        return 2
    topic = os.environ.get("WSGILAB_TOPIC", "wsgilab")
    conf = cfg.CONF
    conf([], project="wsgilab-conductor", default_config_files=[])
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    target = oslo_messaging.Target(topic=topic, server="conductor-%d" % os.getpid())
    server = oslo_messaging.get_rpc_server(
        transport, target, [Endpoint(Received(os.environ.get("WSGILAB_RECEIVED_LOG")))], executor="threading"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    LOG.info("conductor ready on topic %s", topic)
    print("conductor ready", flush=True)
    while not stop.wait(1):
        pass
    LOG.info("conductor stopping")
    t = time.time()

    def shutdown():
        server.stop()
        server.wait()
        transport.cleanup()

    # server.wait() returns when the listener's poll loop next wakes up, which can be up to
    # 5 s away; a clean close of the connections is nice to have, not worth waiting for.
    closer = threading.Thread(target=shutdown, daemon=True)
    closer.start()
    closer.join(STOP_WAIT)
    if closer.is_alive():
        LOG.info("conductor stopped after %.2fs without waiting for the listener", time.time() - t)
        sys.stderr.flush()
        os._exit(0)
    LOG.info("conductor stopped in %.2fs", time.time() - t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
