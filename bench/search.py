"""Measure site search on PostgreSQL at size: 100,000 species plus 100,000 other documents.

Usage: python bench/search.py [--json] [--species 100000] [--documents 100000] [--duration 5]
Seeds BENCH_PG_DB (default verdant_species_bench), times the search service for 50 mixed
queries (p50/p95, database included, result cache off; then again with the Redis cache of hot
queries warm), then runs wrk -c16 against GET /search?q= under gunicorn (cache on, as deployed).
The "other documents" are a stand-in table (bench_document) shaped like a blog or forum source.
Only 127.0.0.1 is contacted; every loop is bounded in count and every wrk run by --duration.
"""
import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_PG_DB", "verdant_species_bench")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")

from bench import pages  # noqa: E402

QUERIES = [
    # exact scientific names
    "Monstera deliciosa", "Ficus lyrata", "Dracaena trifasciata", "Epipremnum aureum", "Rosa canina",
    "Lavandula angustifolia", "Philodendron hederaceum", "Aloe vera", "Calathea orbifolia", "Zamioculcas zamiifolia",
    # prefixes
    "philo", "monst", "calat", "lavand", "ficu", "drac", "aspar", "begon", "ferro", "zamio",
    # typos
    "monstera delicosa", "fikus lyrata", "philodendron hederacium", "lavendula", "alo vera",
    "dracena trifasciata", "epipremum aureum", "calathia", "sanseveria", "zamioculas",
    # common names, several languages
    "snake plant", "Swiss cheese plant", "fiddle-leaf fig", "Fensterblatt", "spider plant",
    "peace lily", "golden pothos", "Bogenhanf", "money tree", "rubber plant",
    # multi-word and care questions
    "bright indirect light", "water when dry", "pet safe fern", "climbing vine with heart leaves",
    "drought tolerant succulent", "red leaves", "silver star", "giant creeping ivy", "tropical aroid",
    "grows in shade",
]
DOC_WORDS = ("repotting", "watering", "fern", "fig", "monstera", "pests", "aphids", "compost", "mulch",
             "pruning", "roses", "tomatoes", "seedlings", "light", "humidity", "cuttings", "orchid", "cactus")


def seed_documents(conn, count: int) -> None:
    """Create a stand-in for blog posts and forum threads: `count` rows with a weighted tsvector."""
    conn.execute("DROP TABLE IF EXISTS bench_document")
    conn.execute("CREATE TABLE bench_document (id serial PRIMARY KEY, title text, body text, "
                 "search_vector tsvector)")
    conn.execute(f"""
        INSERT INTO bench_document (title, body)
        SELECT 'Notes on ' || (ARRAY{list(DOC_WORDS)})[1 + (i % {len(DOC_WORDS)})] || ' ' || i,
               'A gardener writes about ' || (ARRAY{list(DOC_WORDS)})[1 + ((i * 7) % {len(DOC_WORDS)})]
               || ' and ' || (ARRAY{list(DOC_WORDS)})[1 + ((i * 13) % {len(DOC_WORDS)})] || ' in spring.'
        FROM generate_series(1, {count}) AS i""")
    conn.execute("UPDATE bench_document SET search_vector = setweight(to_tsvector('english', title), 'A') "
                 "|| setweight(to_tsvector('english', body), 'D')")
    conn.execute("CREATE INDEX ix_bench_document_search ON bench_document USING gin (search_vector)")
    conn.execute("ANALYZE")


def document_source():
    """A SearchSource over bench_document, shaped like a blog or forum source would be."""
    from sqlalchemy import text

    from app.extensions import db
    from app.search.base import SearchHit, SearchSource
    from app.search.service import highlight

    sql = text("""
        WITH q AS (SELECT websearch_to_tsquery('english', :q) AS tsq),
        hits AS (SELECT d.id, d.title, d.body, ts_rank(d.search_vector, q.tsq) AS score
                 FROM bench_document d, q WHERE d.search_vector @@ q.tsq LIMIT 500)
        SELECT *, count(*) OVER () AS total FROM hits ORDER BY score DESC LIMIT :limit OFFSET :offset""")

    def search(q, limit, offset):
        rows = db.session.execute(sql, {"q": q, "limit": limit, "offset": offset}).all()
        return ([SearchHit("document", r.title, f"/documents/{r.id}", highlight(r.body, q), r.score)
                 for r in rows], rows[0].total if rows else 0)

    return SearchSource(kind="document", label="Posts and threads", search=search, order=50)


def time_service(env: dict, cached: bool = False) -> list[float]:
    """Run the 50 queries through search.service.search (after one warm-up pass); return ms each.

    Uncached, every call reaches the database; cached, the warm-up pass fills the short-lived
    Redis cache of hot queries and the timed pass reads it, as repeated queries do in production.
    """
    os.environ.update({k: v for k, v in env.items() if k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY",
                                                              "VERDANT_ENV")})
    from app import create_app
    from app.search import service
    from app.search.base import register_search_source
    app = create_app()
    app.config["SEARCH_CACHE_TTL"] = service.CACHE_TTL if cached else 0
    register_search_source(app, document_source())
    timings = []
    with app.test_request_context():
        service.invalidate_cache()
        for q in QUERIES:
            service.search(q)
        for q in QUERIES:
            start = time.perf_counter()
            service.search(q)
            timings.append((time.perf_counter() - start) * 1000)
    return timings


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--species", type=int, default=100_000)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded BENCH_PG_DB")
    args = parser.parse_args(argv)

    import psycopg
    wrk = pages.ensure_wrk()
    metrics_dir = tempfile.mkdtemp(prefix="verdant-bench-metrics-")
    database_url = (f"postgresql+psycopg://postgres@127.0.0.1:5432/{pages.PG_DB}" if args.reuse
                    else pages.reset_database())
    env = {**pages.bench_env(database_url, metrics_dir), "BENCH_SPECIES": str(args.species)}
    seed_start = time.time()
    if not args.reuse:
        pages.prepare(env)
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as conn:
        if not args.reuse:
            seed_documents(conn, args.documents)
        n_species = conn.execute("SELECT count(*) FROM species").fetchone()[0]
    seed_seconds = time.time() - seed_start

    timings = time_service(env)
    cached_timings = time_service(env, cached=True)
    port = pages.free_port()
    base = f"http://127.0.0.1:{port}"
    server = pages.start_gunicorn(env, port)
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    paths = ", ".join(json.dumps("/search?q=" + q.replace(" ", "+")) for q in QUERIES)
    script.write(f"local paths = {{{paths}}}\nlocal i = 0\n"
                 "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
                 + pages.WRK_SCRIPT)
    script.close()
    try:
        wrk_result = pages.run_wrk(wrk, base + "/search?q=fig",
                                   argparse.Namespace(threads=2, connections=16, duration=args.duration),
                                   script.name)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        os.unlink(script.name)

    result = {"species": n_species, "documents": args.documents, "queries": len(timings),
              "p50_ms": round(statistics.median(timings), 2), "p95_ms": round(percentile(timings, 95), 2),
              "max_ms": round(max(timings), 2), "cached_p50_ms": round(statistics.median(cached_timings), 2),
              "cached_p95_ms": round(percentile(cached_timings, 95), 2), "rps": wrk_result["rps"], "wrk_p50_ms": wrk_result["p50_ms"],
              "wrk_p99_ms": wrk_result["p99_ms"], "errors": wrk_result["errors"], "seed_s": round(seed_seconds, 1)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"search on PostgreSQL: {n_species} species + {args.documents} documents (seeded in "
              f"{result['seed_s']} s)")
        print(f"{'measure':<34}{'value':>12}{'target':>10}")
        print(f"{'service p50 ms (50 queries)':<34}{result['p50_ms']:>12}{'<= 10':>10}")
        print(f"{'service p95 ms':<34}{result['p95_ms']:>12}{'<= 40':>10}")
        print(f"{'service max ms':<34}{result['max_ms']:>12}{'':>10}")
        print(f"{'service p50 / p95 ms, hot cache':<34}"
              f"{str(result['cached_p50_ms']) + ' / ' + str(result['cached_p95_ms']):>12}")
        print(f"{'GET /search rps (wrk -c16)':<34}{result['rps']:>12}{'':>10}")
        print(f"{'GET /search p50 / p99 ms':<34}{str(result['wrk_p50_ms']) + ' / ' + str(result['wrk_p99_ms']):>12}")
        print(f"{'wrk errors':<34}{result['errors']:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
