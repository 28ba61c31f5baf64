"""Compare identification latency between another revision and this checkout, sample by sample.

Single runs of bench/identify.py drift by several milliseconds on a shared 2-core machine, more than
most changes to the path it measures. This starts both sides at once, each a full stack (gunicorn
gevent with 2 workers and an RQ worker, on a PostgreSQL database and a Redis db of its own), shares
one set of fake providers (bench/identify.py's, Plant.id 300 ms and Pl@ntNet 200 ms) and alternates
every sample between the two sides, so drift hits both alike. It reports each side's miss overhead
(p50, p95) and cache-hit p50, and the paired difference this checkout minus the other. Comparing a
checkout with itself gave paired medians of -1.3 and +4.0 ms with 20 samples, +1.8 and -0.1 ms with 40:
use 40 or more, and read less than ~2 ms as noise.

Usage: python bench/identify_compare.py BASE [--samples 40] [--enrichment] [--json]
  BASE: a git revision (checked out in a temporary worktree, removed afterwards) or a directory.
Both sides run with this interpreter, so with this checkout's installed packages.
Only 127.0.0.1 is contacted; every loop is bounded in count and time.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import identify
import pages

ROOT = Path(__file__).resolve().parent.parent
SIDES = (("base", "verdant_compare_base", 11), ("head", "verdant_compare_head", 12))


class Stack:
    """One side: its database and Redis db made fresh, seeded, then gunicorn and an RQ worker."""

    def __init__(self, root: Path, database: str, redis_db: int, fake: identify.FakeServer,
                 enrichment: bool = False) -> None:
        redis_url = f"redis://127.0.0.1:6379/{redis_db}"
        self.dirs = [tempfile.mkdtemp(prefix="verdant-compare-"), tempfile.mkdtemp(prefix="verdant-compare-")]
        self.env = {**pages.bench_env(pages.reset_database(database), self.dirs[0]), **fake.settings,
                    "MEDIA_ROOT": self.dirs[1], "REDIS_URL": redis_url,
                    "GUNICORN_WORKER_CLASS": "gevent", "WEB_CONCURRENCY": "2",
                    "IDENTIFY_ANON_RATE_LIMIT": "100000 per minute", "UPLOAD_QUOTA": "100000",
                    **(fake.enrichment_settings() if enrichment else {})}
        self.procs: list[subprocess.Popen] = []
        pages.prepare(self.env, root)
        port = pages.free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.procs.append(pages.start_gunicorn(self.env, port, root))
        self.procs.append(subprocess.Popen([sys.executable, "worker.py"], cwd=root, env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))
        identify.wait_for_idle_queues(redis_url)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            proc.wait(timeout=30)
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)


def checkout(base: str) -> tuple[Path, bool]:
    """Return the directory of BASE and whether it is a temporary worktree to remove."""
    if Path(base).is_dir():
        return Path(base).resolve(), False
    path = Path(tempfile.mkdtemp(prefix="verdant-compare-base-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(path), base], cwd=ROOT, check=True,
                   capture_output=True)
    return path, True


def measure(visitors: dict[str, identify.Visitor], samples: int) -> tuple[dict, dict]:
    """Alternate misses, then hits, between the sides; return their times (ms) by side."""
    photos = [identify.photo(1000 + i) for i in range(samples)]
    overhead = {name: [] for name in visitors}
    hits = {name: [] for name in visitors}
    names = list(visitors)
    for i, data in enumerate(photos):
        for name in names if i % 2 == 0 else reversed(names):
            visitor = visitors[name]
            started = time.perf_counter()
            status, ident_id = visitor.upload(data)
            assert status == 303, status
            ws = visitor.socket(ident_id)
            try:
                assert identify.wait_final(ws), "no final event"
            finally:
                identify.close(ws)
            overhead[name].append((time.perf_counter() - started) * 1000 - identify.SLOWEST * 1000)
    for i in range(samples):
        for name in names if i % 2 == 0 else reversed(names):
            started = time.perf_counter()
            response = visitors[name].upload_as_script(photos[0])
            hits[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and 'data-status="completed"' in response.text
    return overhead, hits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="git revision or directory to compare this checkout with")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--enrichment", action="store_true",
                        help="give both sides Trefle and OpenAI keys (fakes), so results queue enrichment jobs")
    args = parser.parse_args(argv)

    base_root, temporary = checkout(args.base)
    fake = identify.FakeServer()
    fake.set_mode("plantid", "ok", delay=identify.PLANTID_DELAY)
    fake.set_mode("plantnet", "ok", delay=identify.PLANTNET_DELAY)
    stacks: dict[str, Stack] = {}
    try:
        for (name, database, redis_db), root in zip(SIDES, (base_root, ROOT), strict=True):
            stacks[name] = Stack(root, database, redis_db, fake, enrichment=args.enrichment)
        visitors = {name: identify.Visitor(stack.base) for name, stack in stacks.items()}
        for visitor in visitors.values():  # warm connections, clients and the fakes' sessions
            for seed in (1, 2, 3):
                _, ident_id = visitor.upload(identify.photo(seed))
                ws = visitor.socket(ident_id)
                try:
                    identify.wait_final(ws)
                finally:
                    identify.close(ws)
        overhead, hits = measure(visitors, args.samples)
    finally:
        for stack in stacks.values():
            stack.stop()
        fake.stop()
        if temporary:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_root)], cwd=ROOT, check=False,
                           capture_output=True)

    miss_diff = [h - b for b, h in zip(overhead["base"], overhead["head"], strict=True)]
    hit_diff = [h - b for b, h in zip(hits["base"], hits["head"], strict=True)]
    result = {"base": args.base, "samples": args.samples, "enrichment": args.enrichment}
    for name in stacks:
        result[f"{name}_overhead_p50_ms"] = identify.percentile(overhead[name], 50)
        result[f"{name}_overhead_p95_ms"] = identify.percentile(overhead[name], 95)
        result[f"{name}_hit_p50_ms"] = identify.percentile(hits[name], 50)
    result.update({"paired_miss_median_ms": round(statistics.median(miss_diff), 1),
                   "paired_miss_mean_ms": round(statistics.mean(miss_diff), 1),
                   "paired_hit_median_ms": round(statistics.median(hit_diff), 1)})
    identify.report(result, as_json=args.json)
    if not args.json:
        print("paired: this checkout minus BASE, sample by sample (negative is faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
