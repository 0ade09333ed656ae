import os, sys, time, statistics
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")
os.environ.setdefault("TPFGO_ERROR_SINKS", "pipelines.failures.sinks.DatabaseSink")
os.environ.setdefault("LOG_LEVEL", "WARNING")
import django; django.setup()
from django.core.management import call_command
from django.conf import settings
from django.db import connection
from bench import backend as b, template as tpl
call_command("migrate", verbosity=0)
from checkout import demo, services
demo.load()
template = tpl.capture(b.BODY)
keys = b.Keys()
blocks, n = int(sys.argv[1]), int(sys.argv[2])
lat = {"raw": [], "commit": [], "boundary": []}
cpu = {"raw": [], "commit": [], "boundary": []}
def run(name, fn, items):
    for it in items:
        t0 = time.perf_counter(); c0 = time.process_time()
        fn(it)
        lat[name].append(time.perf_counter() - t0); cpu[name].append(time.process_time() - c0)
for _ in range(blocks):
    orders = [template.clone(k) for k in keys.take("raw", n)]
    run("raw", lambda o: tpl.execute_orders([o]), orders)
    settings.TPFGO_DURABILITY = "commit"
    run("commit", lambda k: services.place_order(b.BODY, k), keys.take("c", n))
    settings.TPFGO_DURABILITY = "boundary"
    run("boundary", lambda k: services.place_order(b.BODY, k), keys.take("d", n))
for name in lat:
    print(f"{name:9} p50 {statistics.median(lat[name])*1000:6.2f} ms  client cpu p50 {statistics.median(cpu[name])*1000:6.2f} ms")
r = statistics.median(lat["raw"])
print(f"commit/raw {statistics.median(lat['commit'])/r:.2f}  boundary/raw {statistics.median(lat['boundary'])/r:.2f}")
