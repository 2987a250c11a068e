# One emulated cell: warm-up cast, idle (hub starved like mod_wsgi between requests, or not),
# probe cast. Markers on stdout for the recorder; oslo logs on stderr.
import eventlet
eventlet.monkey_patch()
import sys, time, logging, argparse
from eventlet import patcher
real_sleep = patcher.original('time').sleep
p = argparse.ArgumentParser()
p.add_argument('--vhost', default='cellA')
p.add_argument('--port', default='45099')
p.add_argument('--heartbeat', type=int, default=2)
p.add_argument('--pthread', action='store_true')
p.add_argument('--starve', type=float, default=9)
p.add_argument('--wake', type=float, default=0, help='let the hub run this long after starving, before the probe')
p.add_argument('--tail', type=float, default=2)
a = p.parse_args()
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format='%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(message)s', datefmt='%Y-%m-%d %H:%M:%S')
for n in ('amqp', 'kombu', 'oslo_config', 'stevedore', 'oslo_messaging.rpc.client'):
    logging.getLogger(n).setLevel(logging.WARNING)
from oslo_config import cfg
import oslo_messaging as messaging
conf = cfg.CONF
conf([])
transport = messaging.get_rpc_transport(conf, url='rabbit://guest:guest@127.0.0.1:%s/%s' % (a.port, a.vhost))
conf.set_override('heartbeat_timeout_threshold', a.heartbeat, group='oslo_messaging_rabbit')
conf.set_override('heartbeat_in_pthread', a.pthread, group='oslo_messaging_rabbit')
client = messaging.get_rpc_client(transport, messaging.Target(topic='conductor'))
def cast(tag):
    t0 = time.monotonic()
    client.cast({}, 'ping')
    print('%s %.3f' % (tag, (time.monotonic() - t0) * 1000), flush=True)
print('START', flush=True)
for i in range(3):
    cast('WARMUP_LATENCY_MS')
print('WARMUP_END', flush=True)
real_sleep(a.starve)
if a.wake:
    eventlet.sleep(a.wake)
print('PROBE_START', flush=True)
for i in range(3):
    cast('PROBE_LATENCY_MS')
eventlet.sleep(a.tail)
print('DONE', flush=True)
