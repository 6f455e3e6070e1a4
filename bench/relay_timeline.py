"""Where does send -> first token go inside the arena? A timeline of one turn, in process.

Runs the real ASGI application (channels' WebsocketCommunicator, so no network socket) on a
throw-away SQLite database against the fake upstream in ANOTHER process, and wraps (never changes)
the functions on the path to record when each is entered and left. Prints the last three turns'
timelines and the median time to the first delta over turns 3-12 (the first ones pay for imports and
the first connections).

    ARENA_PROMPTS_PER_MINUTE=1000 python bench/relay_timeline.py
"""
import asyncio, os, subprocess, sys, time, statistics, functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("ARENA_BENCH_DIR", "/tmp/arena-relay-timeline"))
WORK.mkdir(parents=True, exist_ok=True)
(WORK / "timeline.sqlite3").unlink(missing_ok=True)  # a throw-away database each run
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
os.environ["ARENA_DATA_DIR"] = str(WORK / "var")
os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'timeline.sqlite3'}"
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from models_serving.vllm_process import free_port
port = free_port()
upstream_code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import uvicorn; "
                 f"from tests.support.fake_openai import make_app; "
                 f"uvicorn.run(make_app(), host='127.0.0.1', port={port}, log_level='error')")
up = subprocess.Popen([sys.executable, "-c", upstream_code])
import atexit

atexit.register(up.terminate)  # whatever happens below, the upstream process goes with this one
import httpx
for _ in range(100):
    try:
        httpx.get(f"http://127.0.0.1:{port}/health"); break
    except Exception: time.sleep(0.1)
from models_serving.models import ServedModel
for n in ("a", "b"):
    ServedModel.objects.create(public_name=f"prof-{n}", kind="external", served_name=f"echo-{n}", endpoint_url=f"http://127.0.0.1:{port}/v1", health="healthy")
from tests.arena.conftest import make_participant, connect
from arena import services
from models_serving import client
marks = []
T0 = [0.0]
def mark(name): marks.append((name, time.perf_counter() - T0[0]))
def wrap_sync(mod, name):
    f = getattr(mod, name)
    @functools.wraps(f)
    def w(*a, **k):
        mark(name + ">"); r = f(*a, **k); mark(name + "<"); return r
    setattr(mod, name, w)
from arena.services import battles
wrap_sync(services, "submit_prompt")
for name in ("acting_participant", "_check_rate", "_start_battle", "_locked_battle", "_begin_turn"):
    wrap_sync(battles, name)  # the steps inside submit_prompt's transaction
orig_stream = client.stream_chat
async def stream(*a, **k):
    mark("stream_chat>")
    first = True
    async for d in orig_stream(*a, **k):
        if first: mark("first chunk"); first = False
        yield d
client.stream_chat = stream
from django.contrib.auth.models import User
async def main():
    User.objects.filter(username__startswith="prof").delete()
    p = make_participant(f"prof{time.time_ns()}")
    results = []
    for i in range(12):
        com, ok, _ = await connect(p.user)
        marks.clear(); T0[0] = time.perf_counter()
        await com.send_json_to({"type": "prompt", "text": "Kaixo"})
        first = None
        while True:
            f = await com.receive_json_from(timeout=30)
            if f["type"] == "delta" and first is None:
                first = time.perf_counter() - T0[0]; mark("first delta at browser")
            if f["type"] in ("turn_done",) or f["type"] == "error":
                break
        await com.disconnect()
        results.append((first, list(marks)))

    for first, m in results[:1] + results[-2:]:
        print(f"first delta {first*1000:.1f} ms")
        for name, t in m:
            print(f"   {t*1000:8.1f} ms  {name}")
    print("median first delta ms:", statistics.median(r[0] for r in results[2:]) * 1000)
try:
    asyncio.run(main())
finally:
    up.terminate()
