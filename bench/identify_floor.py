"""Measure the least an identification can cost on this machine: bench/identify.py's requests, answered by
bare Flask doing only what each path cannot do without.

- transport: the upload POSTed to gunicorn (gevent, the server model the sockets need), whose app only
  reads and hashes the body.
- hit: bare Flask under the same server parses the upload with Werkzeug into a hashed temp file, GETs
  one Redis key, INSERTs an identification, its photo and five suggestions and COMMITs, all in one
  psycopg pipeline, and renders a ~5 KB page (the real one's size) from a compiled template. No
  session, CSRF check, rate limit, quota, ORM, cache counter or real page.
- miss overhead: bare Flask parses the upload, cleans and checks the photo with Verdant's own
  app.core.images (strip its metadata, decode it at 1/8 scale: a damaged photo must not reach a
  provider), writes it to a file and queues an RQ job, which an RQ SimpleWorker runs: it sends the
  photo to fake Plant.id (base64 in JSON) and Pl@ntNet (multipart) at once, in two threads, and
  pushes a Redis list when both have answered; the request answers when that arrives. Minus the
  slowest delay (300 ms). No database, progress event or WebSocket.

Each is a floor for what bench/identify.py measures (same photo, same client, same fakes): the real
paths do all of this and more. Set the targets (hit p50 <= 10 ms, overhead p50 <= 30 ms) against them.

Usage: python bench/identify_floor.py [--samples 100] [--json]
Only 127.0.0.1 is contacted; every loop is bounded in count.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PG_DB = "verdant_identify_floor"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
# About the size of the real result page.
PAGE = ("<!doctype html><title>Result</title><ol>{% for s in suggestions %}<li>{{ s.name }} "
        "({{ '%.0f' % (s.confidence * 100) }}%)</li>{% endfor %}</ol>" + "<p>Verdant</p>" * 350)
SUGGESTIONS = [{"name": f"Species {i}", "confidence": 0.9 - i / 10} for i in range(5)]
TABLES = ("CREATE TABLE IF NOT EXISTS floor_identification (id uuid PRIMARY KEY, sha256 text, result jsonb)",
          "CREATE TABLE IF NOT EXISTS floor_image (id uuid PRIMARY KEY, identification_id uuid, sha256 text)",
          ("CREATE TABLE IF NOT EXISTS floor_suggestion (id uuid PRIMARY KEY, identification_id uuid, "
           "rank int, name text, confidence float)"))


def make_app():
    """The floor app gunicorn serves (`identify_floor:make_app()`), configured by FLOOR_* variables."""
    import hashlib
    import io

    import psycopg
    import redis
    from flask import Flask, request
    from rq import Queue
    from werkzeug.formparser import FormDataParser

    from app.core.images import prepare_image

    app = Flask(__name__)
    page = app.jinja_env.from_string(PAGE)
    cache = redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"])
    database = psycopg.connect(os.environ["FLOOR_PG_URL"])
    queue = Queue("floor", connection=cache)
    media = os.environ["FLOOR_MEDIA"]

    class HashedFile:
        def __init__(self) -> None:
            # Closed (and so deleted) by read_upload, like the app's own spooled uploads.
            self.file = tempfile.NamedTemporaryFile(prefix="verdant-floor-")  # noqa: SIM115
            self.digest = hashlib.sha256()

        def write(self, data: bytes) -> int:
            self.digest.update(data)
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

    def read_upload() -> tuple[bytes, str]:
        spooled: list[HashedFile] = []

        def factory(*args, **kwargs):
            spooled.append(HashedFile())
            return spooled[-1]

        FormDataParser(stream_factory=factory).parse_from_environ(request.environ)
        try:
            photo = spooled[0]
            photo.seek(0)
            return photo.read(), photo.digest.hexdigest()
        finally:
            for item in spooled:
                item.close()

    @app.post("/transport")
    def transport():
        digest = hashlib.sha256()
        while chunk := request.stream.read(65536):
            digest.update(chunk)
        return digest.hexdigest()

    @app.post("/hit")
    def hit():
        _, sha256 = read_upload()
        result = json.loads(cache.get("floor:result"))
        ident_id = uuid.uuid4()
        with database.pipeline(), database.cursor() as cursor:
            cursor.execute("INSERT INTO floor_identification VALUES (%s, %s, %s)",
                           (ident_id, sha256, json.dumps(result)))
            cursor.execute("INSERT INTO floor_image VALUES (%s, %s, %s)", (uuid.uuid4(), ident_id, sha256))
            cursor.executemany("INSERT INTO floor_suggestion VALUES (%s, %s, %s, %s, %s)",
                               [(uuid.uuid4(), ident_id, rank, s["name"], s["confidence"])
                                for rank, s in enumerate(result, start=1)])
            database.commit()
        return page.render(suggestions=result)

    @app.post("/miss")
    def miss():
        raw, _ = read_upload()
        image, check = prepare_image(io.BytesIO(raw))
        check()
        path = os.path.join(media, f"{uuid.uuid4()}.jpg")
        with open(path, "wb") as photo:
            photo.write(image.data)
        job = queue.enqueue(floor_job, path)
        done = cache.blpop(f"floor:done:{job.id}", timeout=10)
        os.unlink(path)
        return ("", 204) if done and done[1] == b"ok" else ((done or [b"", b"timeout"])[1], 502)

    return app


_providers = None


def floor_job(path: str) -> None:
    """Call both fake providers at once with the photo at path; push "ok" (or what went wrong) when both answered."""
    global _providers
    import orjson
    import pybase64
    import redis
    import requests
    from rq import get_current_job

    if _providers is None:  # kept for the worker's life, as the real job keeps its clients
        _providers = (requests.Session(), ThreadPoolExecutor(2))
    session, pool = _providers
    with open(path, "rb") as photo:
        data = photo.read()

    def plantid() -> int:
        body = orjson.dumps({"images": [pybase64.b64encode(data).decode("ascii")], "similar_images": True})
        return session.post(f"{os.environ['FLOOR_PLANTID_URL']}/identification", data=body, timeout=10,
                            headers={"Api-Key": os.environ["FLOOR_PLANTID_KEY"],
                                     "Content-Type": "application/json"}).status_code

    def plantnet() -> int:
        return session.post(f"{os.environ['FLOOR_PLANTNET_URL']}/identify/all", timeout=10,
                            params={"api-key": os.environ["FLOOR_PLANTNET_KEY"]}, data={"organs": ["auto"]},
                            files=[("images", ("image_0.jpeg", data, "image/jpeg"))]).status_code

    statuses = [call.result() for call in (pool.submit(plantid), pool.submit(plantnet))]
    outcome = "ok" if all(200 <= status < 300 for status in statuses) else str(statuses)
    redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"]).rpush(f"floor:done:{get_current_job().id}", outcome)


def start(env: dict, port: int) -> subprocess.Popen:
    import requests
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--worker-class", "gevent", "--workers", "1",
                             "--bind", f"127.0.0.1:{port}", "identify_floor:make_app()"],
                            cwd=BENCH, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.post(f"http://127.0.0.1:{port}/transport", data=b"x", timeout=1).raise_for_status()
            return proc
        except requests.RequestException:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"the floor app did not start on port {port}")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    proc.wait(timeout=30)


def timed(post, samples: int, warm: int = 10) -> list[float]:
    """POST samples times (after warm untimed ones) and return the times in ms; each answer must be a 2xx."""
    times = []
    for i in range(warm + samples):
        started = time.perf_counter()
        response = post()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.ok, (response.status_code, response.text[:200])
        if i >= warm:
            times.append(elapsed)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    import identify
    import pages
    import psycopg
    import redis
    import requests

    database_url = pages.reset_database(PG_DB).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(database_url) as conn:
        for statement in TABLES:
            conn.execute(statement)
    redis.Redis.from_url(REDIS_URL).set("floor:result", json.dumps(SUGGESTIONS), ex=3600)
    fake = identify.FakeServer()
    fake.set_mode("plantid", "ok", delay=identify.PLANTID_DELAY)
    fake.set_mode("plantnet", "ok", delay=identify.PLANTNET_DELAY)
    settings = fake.settings
    media = tempfile.mkdtemp(prefix="verdant-floor-")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOOR_MEDIA": media,
           "FLOOR_REDIS_URL": REDIS_URL, "FLOOR_PG_URL": database_url,
           "FLOOR_PLANTID_URL": settings["PLANTID_BASE_URL"], "FLOOR_PLANTID_KEY": settings["PLANTID_API_KEY"],
           "FLOOR_PLANTNET_URL": settings["PLANTNET_BASE_URL"], "FLOOR_PLANTNET_KEY": settings["PLANTNET_API_KEY"]}
    port = pages.free_port()
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "rq.cli", "worker", "--url", REDIS_URL,
                                       "--worker-class", "rq.worker.SimpleWorker", "--path", str(BENCH), "floor"],
                                      cwd=BENCH, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
        procs.append(start(env, port))
        base = f"http://127.0.0.1:{port}"
        client = requests.Session()
        body, content_type = identify.multipart(identify.photo(1000), "floor")
        headers = {"Content-Type": content_type}

        def post(path):
            return lambda: client.post(f"{base}/{path}", data=body, headers=headers, timeout=30)
        transport = timed(post("transport"), args.samples)
        hits = timed(post("hit"), args.samples)
        misses = timed(post("miss"), max(20, args.samples // 2), warm=3)
    finally:
        for proc in procs:
            stop(proc)
        fake.stop()
        shutil.rmtree(media, ignore_errors=True)
    slowest = identify.SLOWEST * 1000
    result = {
        "transport_p50_ms": identify.percentile(transport, 50),
        "floor_hit_p50_ms": identify.percentile(hits, 50),
        "floor_overhead_p50_ms": round(identify.percentile(misses, 50) - slowest, 1),
        "floor_overhead_p95_ms": round(identify.percentile(misses, 95) - slowest, 1),
        "photo_bytes": len(identify.photo(1000)),
        "server": "gunicorn gevent, 1 worker, bare Flask",
        "samples": args.samples, "miss_samples": len(misses),
        "mean_hit_ms": round(statistics.mean(hits), 1),
    }
    identify.report(result, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
