"""Load-test Verdant's pages with wrk against a ceiling route, under gunicorn on PostgreSQL and Redis.

Usage: python bench/pages.py [--json] [--duration 5] [--connections 32] [--threads 2]
Only 127.0.0.1 is ever contacted; every wrk run is bounded by --duration.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "verdant_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
BENCH_EMAIL = "alice@example.com"

# (label, path, signed_in). Later domains add their pages here.
PAGES = [
    ("/", "/", False),
    ("/accounts/login", "/accounts/login", False),
    ("/ (signed in)", "/", True),
    ("/accounts/profile", "/accounts/profile", True),
    ("/species", "/species", False),
    ("/species/<slug>", "/species/monstera-deliciosa", False),
    # app/forum/bench.py seeds these ids: a 200-post thread (page 5 of 10) and an embedded thread.
    ("/forum/threads (200 posts)", "/forum/threads/00000000-0000-4000-8000-00000000f0ab?page=5", False),
    ("/forum/embed (fragment)", "/forum/embed/bench/00000000-0000-4000-8000-00000000be0c", False),
    ("/blog", "/blog", False),
    ("/blog/<long post>", "/blog/a-long-read-on-aroids", False),  # 5,000 words, code, images
    ("/blog/rss.xml", "/blog/rss.xml", False),
    ("/identify", "/identify", False),
    ("/identifications (signed in)", "/identifications", True),
    ("/identifications?high=1 (signed in)", "/identifications?high=1", True),
]

WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, "non2xx": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def ensure_wrk() -> str:
    """Return the path of wrk, installing Debian's package when it is missing."""
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk not found: installing it with apt-get", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset_database(name: str = PG_DB) -> str:
    """Create an empty benchmark database and return its URL."""
    import psycopg
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def bench_env(database_url: str, metrics_dir: str) -> dict:
    return {**os.environ, "VERDANT_ENV": "production", "SECRET_KEY": "bench-only-secret",
            "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
            "SESSION_COOKIE_SECURE": "0", "RATELIMIT_DEFAULT": "100000000 per minute",
            "SEARCH_RATE_LIMIT": "100000000 per minute", "SEARCH_SUGGEST_RATE_LIMIT": "100000000 per minute",
            "LOG_LEVEL": "WARNING", "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
            "FLASK_APP": "wsgi.py", "BENCH_FORUM_SUBJECT": "1"}


def prepare(env: dict, root: Path = ROOT) -> None:
    """Migrate, flush the benchmark Redis and seed demo content (the bench hooks add more).

    root is the checkout to run (bench/identify_compare.py runs another one too)."""
    python = sys.executable
    subprocess.run([python, "-m", "flask", "db", "upgrade"], cwd=root, env=env, check=True,
                   capture_output=True)
    import redis
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    subprocess.run([python, "-m", "flask", "seed"], cwd=root, env=env, check=True,
                   capture_output=True)
    subprocess.run([python, "-m", "flask", "bench-seed"], cwd=root, env=env, check=True,
                   capture_output=True)


def start_gunicorn(env: dict, port: int, root: Path = ROOT) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
           "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])


def login_cookie(base: str) -> str:
    """Sign in through the real form and return the Cookie header value."""
    from app.accounts.seed import DEMO_PASSWORD
    session = requests.Session()
    page = session.get(f"{base}/accounts/login", timeout=5)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    response = session.post(f"{base}/accounts/login", timeout=5, allow_redirects=False,
                            data={"email": BENCH_EMAIL, "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.status_code
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def run_wrk(wrk: str, url: str, args, script: str, cookie: str | None = None) -> dict:
    cmd = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
           "--timeout", "5s", "-s", script, url]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         timeout=args.duration + 30).stdout
    stats = json.loads(out.strip().splitlines()[-1])
    seconds = stats["duration_us"] / 1e6
    return {"rps": round(stats["requests"] / seconds, 1), "p50_ms": round(stats["p50_us"] / 1000, 2),
            "p99_ms": round(stats["p99_us"] / 1000, 2), "errors": stats["errors"] + stats["non2xx"]}


def _medians(runs: list[dict]) -> dict:
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="ceiling/page pairs per page")
    parser.add_argument("--only", default="", help="comma-separated page labels to measure (default: all)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    wrk = ensure_wrk()
    metrics_dir = tempfile.mkdtemp(prefix="verdant-bench-metrics-")
    env = bench_env(reset_database(), metrics_dir)
    prepare(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_gunicorn(env, port)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
        script = f.name
    try:
        cookie = login_cookie(base)
        for path in ["/ceiling"] + [p for _, p, signed_in in PAGES if not signed_in]:
            run_wrk(wrk, base + path, argparse.Namespace(**{**vars(args), "duration": 1}), script)
        # A shared 2-core machine drifts by tens of percent within a minute, so each page is
        # measured right after its own ceiling run, --rounds times, and the medians reported.
        ceilings, pages = [], {}
        wanted = {label.strip() for label in args.only.split(",") if label.strip()}
        for label, path, signed_in in PAGES:
            if wanted and label not in wanted:
                continue
            rounds = []
            for _ in range(args.rounds):
                ceilings.append(run_wrk(wrk, f"{base}/ceiling", args, script))
                result = run_wrk(wrk, base + path, args, script, cookie if signed_in else None)
                result["ratio_to_ceiling"] = round(result["rps"] / ceilings[-1]["rps"], 3)
                rounds.append(result)
            pages[label] = _medians(rounds)
        ceiling = _medians(ceilings)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        os.unlink(script)
        shutil.rmtree(metrics_dir, ignore_errors=True)

    if args.json:
        print(json.dumps({"ceiling_rps": ceiling["rps"], "ceiling_p99_ms": ceiling["p99_ms"],
                          "pages": pages}))
    else:
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, gunicorn "
              f"{env.get('GUNICORN_WORKER_CLASS', 'gevent')} (gunicorn.conf.py), PostgreSQL + Redis")
        print(f"{'page':<28}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'ratio':>8}{'errors':>8}")
        print(f"{'ceiling':<28}{ceiling['rps']:>10}{ceiling['p50_ms']:>10}{ceiling['p99_ms']:>10}"
              f"{1.0:>8}{ceiling['errors']:>8}")
        for label, r in pages.items():
            print(f"{label:<28}{r['rps']:>10}{r['p50_ms']:>10}{r['p99_ms']:>10}"
                  f"{r['ratio_to_ceiling']:>8}{r['errors']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
