"""Benchmark identification end to end: gunicorn (gevent) + a real RQ worker on PostgreSQL and Redis, fake providers.

Fake Plant.id and Pl@ntNet run in a process each (separate services, as the real APIs are) and answer at
fixed delays from each request's arrival.

Usage: BENCH_PG_DB=verdant_identify_bench BENCH_REDIS_URL=redis://127.0.0.1:6379/13 \
       python bench/identify.py [--json] [--samples 10] [--sockets 500] [--duration 5]

Measures: upload-to-`completed`-on-the-WebSocket latency for new photos (miss) and the same photo again (hit:
the result page answers the upload script's POST; without JavaScript, POST + redirect + GET),
provider calls for 20 concurrent uploads of one new photo (stampede), web-process memory growth while a
30 MB upload is refused, the home page's p99 under wrk with and without open progress sockets (once each
socket has made its first check of the row, as sockets left open do), and the web processes' CPU while
those sockets sit idle. Only 127.0.0.1 is contacted; every loop is bounded in count and time.
"""
import argparse
import atexit
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("BENCH_PG_DB", "verdant_identify_bench")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pages  # noqa: E402
import requests  # noqa: E402
from simple_websocket import ConnectionClosed  # noqa: E402

from app.providers.fakes import settings_for  # noqa: E402
from config import Config  # noqa: E402
from tests import image_factory  # noqa: E402
from tests.socket_client import SocketClient  # noqa: E402

PLANTID_DELAY, PLANTNET_DELAY = 0.300, 0.200
SLOWEST = max(PLANTID_DELAY, PLANTNET_DELAY)
SOCKET_CHECK_SECONDS = Config.IDENTIFY_SOCKET_CHECK_SECONDS  # set for the server below, and waited for
IDLE_CPU_SECONDS = SOCKET_CHECK_SECONDS  # a whole period: each socket checks its row once in it
FINAL = re.compile(r'data-status="(completed|partial|failed)"')


class _FakeProcess:
    """One fake API server in a process of its own, driven over its HTTP control API."""

    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{pages.free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self.proc = subprocess.Popen([sys.executable, "-m", "app.providers.fakes", "--port", port], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        atexit.register(self.stop)  # whatever fails while the rest starts
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/_control", timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the fake providers did not start")

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)


class FakeServer:
    """Fake Plant.id and Pl@ntNet, each in a process of its own, as the real APIs are separate services.

    Sharing this process's GIL with the measuring client would delay their reading of requests, and
    so the measured overhead; sharing one process with each other, Pl@ntNet's reading of a photo
    (~3 ms of Python) delayed the arrival of the Plant.id request sent beside it.
    """

    PROVIDERS = ("plantid", "plantnet")

    def __init__(self) -> None:
        self.servers: dict[str, _FakeProcess] = {}
        try:
            for provider in self.PROVIDERS:
                self.servers[provider] = _FakeProcess()
        except BaseException:
            self.stop()
            raise

    @property
    def settings(self) -> dict[str, str]:
        """Plant.id and Pl@ntNet only: the benchmark times identification, with no enrichment jobs."""
        return {k: v for provider, server in self.servers.items()
                for k, v in settings_for(server.url).items() if k.startswith(provider.upper())}

    def enrichment_settings(self) -> dict[str, str]:
        """Trefle and OpenAI, answered at once by the Plant.id process: for a run whose identifications
        queue enrichment jobs too, as a site with those keys does."""
        return {k: v for k, v in settings_for(self.servers["plantid"].url).items()
                if k.startswith(("TREFLE", "OPENAI"))}

    def set_mode(self, provider: str, mode: str, delay: float) -> None:
        requests.post(f"{self.servers[provider].url}/_control",
                      json={"provider": provider, "mode": mode, "delay": delay}, timeout=5).raise_for_status()

    def hits(self, provider: str | None = None):
        counts = {name: requests.get(f"{server.url}/_control", timeout=5).json()["hits"][name]
                  for name, server in self.servers.items()}
        return counts[provider] if provider else counts

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def photo(seed: int) -> bytes:
    """Return a distinct ~1 MB JPEG (noise compresses badly, like a real photo)."""
    return image_factory.noisy_jpeg(1024, 768, seed=seed)


def multipart(data: bytes, token: str) -> tuple[bytes, str]:
    boundary = "verdant-bench-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Visitor:
    """One browser: a session cookie and its CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        html = self.session.get(f"{base}/identify", timeout=10).text
        self.token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)

    def upload(self, data: bytes) -> tuple[int, str | None]:
        body, content_type = multipart(data, self.token)
        response = self.session.post(f"{self.base}/identify", data=body, timeout=60, allow_redirects=False,
                                     headers={"Content-Type": content_type})
        location = response.headers.get("Location")
        return response.status_code, location.rsplit("/", 1)[1] if location else None

    def upload_as_script(self, data: bytes) -> requests.Response:
        """Upload as static/js/upload.js does (HX-Request, token in X-CSRFToken)."""
        body, content_type = multipart(data, self.token)
        return self.session.post(f"{self.base}/identify", data=body, timeout=60, allow_redirects=False,
                                 headers={"Content-Type": content_type, "HX-Request": "true",
                                          "X-CSRFToken": self.token})

    def socket(self, ident_id: str) -> SocketClient:
        return SocketClient.connect(self.base.replace("http", "ws") + f"/identifications/{ident_id}/ws",
                                    headers={"Cookie": self.cookie, "Origin": self.base})


def wait_final(ws: SocketClient, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            message = ws.receive(timeout=0.5)
        except ConnectionClosed:
            return False
        if message and FINAL.search(message):
            return True
    return False


def close(ws: SocketClient) -> None:
    try:
        ws.close()
    except (ConnectionClosed, OSError):
        pass  # the server closed it first


def measure_miss(visitor: Visitor, samples: int) -> list[float]:
    """Time POST of a new photo until the final state arrives on the socket."""
    times = []
    for i in range(samples):
        data = photo(1000 + i)
        started = time.perf_counter()
        status, ident_id = visitor.upload(data)
        assert status == 303, status
        ws = visitor.socket(ident_id)
        try:
            assert wait_final(ws), "no final event"
        finally:
            close(ws)
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure_hit(visitor: Visitor, samples: int) -> list[float]:
    """Time POST of an already identified photo until its result page is served, as the phone's script
    uploads it: the answer is the result page itself (shown in place, its address pushed)."""
    data = photo(1000)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        response = visitor.upload_as_script(data)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and 'data-status="completed"' in response.text, response.status_code
    return times


def measure_hit_without_script(visitor: Visitor, samples: int) -> list[float]:
    """The same without JavaScript: POST, 303, then GET of the result page."""
    data = photo(1000)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        status, ident_id = visitor.upload(data)
        page = visitor.session.get(f"{visitor.base}/identifications/{ident_id}", timeout=10)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 303 and 'data-status="completed"' in page.text
    return times


def measure_stampede(base: str, fake: FakeServer, count: int = 20) -> dict:
    visitors = [Visitor(base) for _ in range(count)]
    before = fake.hits()
    data = photo(4242)
    barrier = threading.Barrier(count)
    statuses = []

    def go(visitor):
        barrier.wait(timeout=10)
        statuses.append(visitor.upload(data)[0])

    threads = [threading.Thread(target=go, args=(v,)) for v in visitors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # The worker finishes the queued jobs after the POSTs return; wait until it has.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and fake.hits("plantid") == before["plantid"]:
        time.sleep(0.1)
    time.sleep(2)
    after = fake.hits()
    return {"plantid": after["plantid"] - before["plantid"], "plantnet": after["plantnet"] - before["plantnet"],
            "uploads_ok": statuses.count(303)}


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(pids: list[int], seconds: float) -> float:
    """Return the processes' CPU use over the next seconds, in percent of one core."""
    used, started = cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    return round(100 * (cpu_seconds(pids) - used) / (time.monotonic() - started), 1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_refused_upload(visitor: Visitor, master: int) -> tuple[float, int]:
    """Send a 30 MB photo and return the largest RSS growth of any web worker meanwhile."""
    pids = worker_pids(master)
    baseline = {pid: rss_mb(pid) for pid in pids}
    peak = dict(baseline)
    done = threading.Event()

    def sample():
        while not done.is_set():
            for pid in pids:
                peak[pid] = max(peak[pid], rss_mb(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        status, _ = visitor.upload(image_factory.jpeg() + os.urandom(30 * 1024 * 1024))
    except requests.ConnectionError:
        status = 413  # the server may close the connection after refusing mid-body
    finally:
        done.set()
        sampler.join()
    return max(peak[pid] - baseline[pid] for pid in pids), status


def hold_sockets(visitor: Visitor, ident_id: str, count: int) -> list[SocketClient]:
    sockets = []
    deadline = time.monotonic() + 120
    while len(sockets) < count and time.monotonic() < deadline:
        try:
            ws = visitor.socket(ident_id)
            ws.receive(timeout=5)  # the first state: the server has subscribed this socket
            sockets.append(ws)
        except Exception:
            time.sleep(0.05)
    return sockets


def wait_for_idle_queues(redis_url: str, seconds: float = 120) -> int:
    """Wait until the worker has drained what seeding queued (notification emails); return how many jobs were left.

    Measuring while a backlog of slow jobs runs would time the queue, not the identification: a job
    picked up just before an upload delays it by its own run time.
    """
    import redis
    from rq import Queue
    connection = redis.Redis.from_url(redis_url)
    queues = [Queue(name, connection=connection) for name in ("fast", "slow")]
    left = sum(q.count for q in queues)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (sum(q.count for q in queues)
                                           or any(q.started_job_registry.count for q in queues)):
        time.sleep(0.1)
    return left


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))], 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--duration", type=int, default=5, help="seconds of each wrk run")
    args = parser.parse_args(argv)

    wrk = pages.ensure_wrk()
    fake = FakeServer()
    fake.set_mode("plantid", "ok", delay=PLANTID_DELAY)
    fake.set_mode("plantnet", "ok", delay=PLANTNET_DELAY)
    metrics_dir = tempfile.mkdtemp(prefix="verdant-bench-metrics-")
    media = tempfile.mkdtemp(prefix="verdant-bench-media-")
    settings = fake.settings
    env = {**pages.bench_env(pages.reset_database(), metrics_dir), **settings, "MEDIA_ROOT": media,
           "GUNICORN_WORKER_CLASS": "gevent", "WEB_CONCURRENCY": "2",
           "IDENTIFY_ANON_RATE_LIMIT": "100000 per minute", "UPLOAD_QUOTA": "100000",
           "IDENTIFY_SOCKET_CHECK_SECONDS": str(SOCKET_CHECK_SECONDS)}
    pages.prepare(env)
    port = pages.free_port()
    base = f"http://127.0.0.1:{port}"
    server = pages.start_gunicorn(env, port)
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(pages.WRK_SCRIPT)
        script = f.name
    sockets: list[SocketClient] = []
    try:
        backlog = wait_for_idle_queues(env["REDIS_URL"])
        visitor = Visitor(base)
        # Warm the worker's connections and the providers' sessions, and let that job finish: otherwise
        # the first measured upload queues behind it and its wait shows up as the p95.
        _, warm_id = visitor.upload(photo(1))
        warm = visitor.socket(warm_id)
        try:
            wait_final(warm)
        finally:
            close(warm)
        misses = measure_miss(visitor, args.samples)
        hits = measure_hit(visitor, args.samples)
        hits_nojs = measure_hit_without_script(visitor, args.samples)
        stampede = measure_stampede(base, fake)
        growth, refused_status = measure_refused_upload(visitor, server.pid)

        # The worker stops, so this identification stays queued and its sockets stay open.
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        status, held_id = visitor.upload(photo(9999))
        wrk_args = argparse.Namespace(threads=2, connections=32, duration=args.duration)
        warm_args = argparse.Namespace(threads=2, connections=32, duration=1)
        # Each measured run follows a one-second run, so neither pays alone for what went cold while the
        # pages were idle (the first requests after a pause find the home page's cached parts expired).
        pages.run_wrk(wrk, f"{base}/", warm_args, script)
        quiet = pages.run_wrk(wrk, f"{base}/", wrk_args, script)
        opened = time.monotonic()
        sockets = hold_sockets(visitor, held_id, args.sockets)
        # Measured once every socket has made its first check of the row (IDENTIFY_SOCKET_CHECK_SECONDS
        # with no events): the steady state of sockets left open, not the quiet first seconds.
        time.sleep(max(0.0, SOCKET_CHECK_SECONDS + 1 - (time.monotonic() - opened)))
        idle_cpu = idle_cpu_percent(worker_pids(server.pid), IDLE_CPU_SECONDS)
        pages.run_wrk(wrk, f"{base}/", warm_args, script)
        loaded = pages.run_wrk(wrk, f"{base}/", wrk_args, script)
        still_open = sum(1 for ws in sockets if ws.connected)
    finally:
        for ws in sockets:
            close(ws)
        for proc in (worker, server):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        server.wait(timeout=30)
        fake.stop()
        os.unlink(script)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        shutil.rmtree(media, ignore_errors=True)

    result = {
        "miss_p50_ms": percentile(misses, 50), "miss_p95_ms": percentile(misses, 95),
        "overhead_p50_ms": round(percentile(misses, 50) - SLOWEST * 1000, 1),
        "overhead_p95_ms": round(percentile(misses, 95) - SLOWEST * 1000, 1),
        "hit_p50_ms": percentile(hits, 50),
        "hit_p50_ms_without_js": percentile(hits_nojs, 50),
        "stampede_calls": stampede,
        "peak_rss_mb_upload_30mb": round(growth, 1), "upload_30mb_status": refused_status,
        "sockets_open": still_open, "idle_sockets_cpu_pct_of_a_core": idle_cpu,
        "pages_p99_ms_without_sockets": quiet["p99_ms"], "pages_p99_ms_with_sockets": loaded["p99_ms"],
        "pages_rps_without_sockets": quiet["rps"], "pages_rps_with_sockets": loaded["rps"],
        "server": "gunicorn gevent, 2 workers; 1 RQ worker process",
        "samples": args.samples, "seed_jobs_drained_first": backlog, "mean_miss_ms": round(statistics.mean(misses), 1),
    }
    report(result, as_json=args.json)
    return 0


def report(result: dict, *, as_json: bool) -> None:
    """Print the result as one JSON line, or as a table of its keys and values."""
    if as_json:
        print(json.dumps(result))
        return
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    raise SystemExit(main())
