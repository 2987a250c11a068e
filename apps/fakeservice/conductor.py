#!/usr/bin/python3
# wsgilab fake conductor: the oslo.messaging RPC server that answers the fake service's
# /call (method "echo") and swallows its /cast (method "record"), like nova-conductor answers
# nova-api. It is not the subject of the experiments, so it runs the plain threading executor
# with the driver's default heartbeat and no monkey patching: it never goes quiet on the broker.
#
# Environment: WSGILAB_TRANSPORT_URL (required), WSGILAB_TOPIC (default "wsgilab"),
# WSGILAB_LOG_LEVEL (default INFO). Prints "conductor ready" on stdout once it consumes.
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


class Endpoint(object):
    target = oslo_messaging.Target(version="1.0")

    def __init__(self):
        self.casts = 0
        self.calls = 0

    def echo(self, ctxt, **kwargs):
        self.calls += 1
        return {"conductor_pid": os.getpid(), "calls": self.calls, "args": kwargs}

    def record(self, ctxt, **kwargs):
        self.casts += 1


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
        transport, target, [Endpoint()], executor="threading"
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
