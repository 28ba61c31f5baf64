"""Measure site search on PostgreSQL at size: 100,000 species, 50,000 blog posts, 50,000 forum threads.

Usage: python bench/search.py [--json] [--species 100000] [--documents 100000] [--duration 5]
Seeds BENCH_PG_DB (default verdant_search_bench): species through `flask bench-seed`, then
--documents split evenly into published blog posts and forum threads (each with its opening
post) written in bulk into their real tables, search vectors filled by the applications' own SQL,
then VACUUM ANALYZE as autovacuum would reach in production. Times the search service (all three
sources) for 50 mixed queries (p50/p95, database included, result cache off; then again with the
Redis cache of hot queries warm), and each source alone, then runs wrk -c16 against
GET /search?q= under gunicorn (cache on, as deployed).
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
os.environ.setdefault("BENCH_PG_DB", "verdant_search_bench")
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
# Gardening words, the commonest first: bodies draw them with a skew, as real text does.
DOC_WORDS = ("watering", "light", "soil", "leaves", "repotting", "fern", "fig", "monstera", "pests", "aphids",
             "compost", "mulch", "pruning", "roses", "tomatoes", "seedlings", "humidity", "cuttings", "orchid",
             "cactus", "succulent", "drainage", "fertiliser", "roots", "shade", "sun", "frost", "winter",
             "spring", "summer", "autumn", "pot", "terracotta", "peat", "perlite", "bark", "moss", "vine",
             "climbing", "trellis", "propagation", "division", "seeds", "germination", "basil", "mint",
             "lavender", "rosemary", "thyme", "chilli", "pepper", "cucumber", "courgette", "beans", "peas",
             "lettuce", "spinach", "kale", "onion", "garlic", "potato", "strawberry", "raspberry", "apple",
             "pear", "plum", "cherry", "hedge", "lawn", "weeds", "slugs", "snails", "mildew", "blight",
             "yellowing", "browning", "wilting", "overwatering", "underwatering", "drought", "rain", "greenhouse",
             "windowsill", "balcony", "allotment", "raised", "bed", "border", "bulbs", "tulip", "daffodil",
             "dahlia", "hosta", "ivy", "pothos", "philodendron", "calathea", "begonia", "peace", "lily",
             "snake", "plant", "spider", "money", "tree", "rubber", "palm", "bright", "indirect", "dry",
             "safe", "pet", "tropical", "aroid", "red", "silver", "giant", "heart", "golden", "shade")
FILLER = ("the", "a", "my", "and", "with", "in", "after", "before", "every", "week", "some", "new", "old",
          "small", "large", "question", "advice", "help", "tips", "about", "really", "still", "again")


def _text_sql(words: int, seed_column: str) -> str:
    """SQL for `words` skewed random words (one per call per row: correlated on `seed_column`)."""
    vocab = "ARRAY[" + ", ".join(f"'{w}'" for w in DOC_WORDS + FILLER) + "]"
    return (f"(SELECT string_agg(({vocab})[1 + floor(power(random(), 1.6) * {len(DOC_WORDS) + len(FILLER)})::int],"
            f" ' ') FROM generate_series(1, {words} + 0 * {seed_column}))")


def seed_documents(conn, count: int) -> None:
    """Bulk-write count/2 published blog posts and count/2 forum threads with opening posts."""
    from app.blog.search_index import PG_VECTOR as POST_VECTOR
    from app.forum.search_index import PG_VECTOR as THREAD_VECTOR

    posts, threads = count // 2, count - count // 2
    conn.execute("SELECT setseed(0.42)")
    author = conn.execute('SELECT id FROM "user" ORDER BY created_at LIMIT 1').fetchone()[0]
    category = conn.execute("SELECT id FROM forum_category WHERE min_role IS NULL ORDER BY position LIMIT 1"
                            ).fetchone()[0]
    conn.execute(f"""
        INSERT INTO post (id, title, slug, summary, body, body_html, status, author_id, featured,
                          reading_minutes, published_at, created_at, updated_at)
        SELECT gen_random_uuid(), initcap({_text_sql(6, "i")}), 'bench-post-' || i, {_text_sql(14, "i")},
               {_text_sql(120, "i")}, '', 'published', %(author)s, false, 1,
               now() - i * interval '7 minutes', now(), now()
        FROM generate_series(1, {posts}) AS i""", {"author": author})
    conn.execute(f"""
        CREATE TEMP TABLE bench_thread AS
        SELECT gen_random_uuid() AS id, i, initcap({_text_sql(7, "i")}) AS title, {_text_sql(60, "i")} AS body,
               now() - i * interval '3 minutes' AS at
        FROM generate_series(1, {threads}) AS i""")
    conn.execute("""
        INSERT INTO forum_thread (id, category_id, author_id, title, tags, pinned, locked, hidden, view_count,
                                  post_count, last_number, last_post_at, created_at, updated_at)
        SELECT id, %(category)s, %(author)s, title, '[]', false, false, false, 0, 1, 1, at, at, at
        FROM bench_thread""", {"category": category, "author": author})
    conn.execute("""
        INSERT INTO forum_post (id, thread_id, author_id, number, body, html, hidden, created_at, updated_at)
        SELECT gen_random_uuid(), id, %(author)s, 1, body, '<p>' || body || '</p>', false, at, at
        FROM bench_thread""", {"author": author})
    conn.execute("DROP TABLE bench_thread")
    conn.execute(f"UPDATE post AS p SET search_vector = {POST_VECTOR} WHERE p.slug LIKE 'bench-post-%%'")
    conn.execute(f"UPDATE forum_thread AS t SET search_vector = {THREAD_VECTOR} WHERE t.search_vector IS NULL")
    conn.execute("VACUUM ANALYZE")


def time_service(env: dict, cached: bool = False) -> tuple[list[float], dict[str, list[float]]]:
    """Run the 50 queries through search.service.search (after one warm-up pass); return ms each.

    Uncached, every call reaches the database; cached, the warm-up pass fills the short-lived
    Redis cache of hot queries and the timed pass reads it, as repeated queries do in production.
    Also returns, uncached, each source's own time per query (its first page, as the page asks).
    """
    from app import create_app
    from app.search import service
    from app.search.base import search_sources
    app = create_app()
    app.config["SEARCH_CACHE_TTL"] = service.CACHE_TTL if cached else 0
    timings = []
    with app.test_request_context():
        service.invalidate_cache()
        for q in QUERIES:
            service.search(q)
        for q in QUERIES:
            start = time.perf_counter()
            service.search(q)
            timings.append((time.perf_counter() - start) * 1000)
        per_source = {source.kind: [] for source in search_sources()} if not cached else {}
        for q in QUERIES if not cached else ():
            for source in search_sources():
                start = time.perf_counter()
                source.search(q, service.PAGE_SIZE, 0)
                per_source[source.kind].append((time.perf_counter() - start) * 1000)
    return timings, per_source


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
    # Before anything imports the app: config.py reads the environment once.
    os.environ.update({k: v for k, v in env.items() if k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY",
                                                              "VERDANT_ENV")})
    seed_start = time.time()
    if not args.reuse:
        pages.prepare(env)
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as conn:
        if not args.reuse:
            seed_documents(conn, args.documents)
        n_species = conn.execute("SELECT count(*) FROM species").fetchone()[0]
    seed_seconds = time.time() - seed_start

    timings, per_source = time_service(env)
    cached_timings, _ = time_service(env, cached=True)
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
              "wrk_p99_ms": wrk_result["p99_ms"], "errors": wrk_result["errors"], "seed_s": round(seed_seconds, 1),
              "sources": {kind: {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2)}
                          for kind, ms in per_source.items()}}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"search on PostgreSQL: {n_species} species + {args.documents} posts and threads (seeded in "
              f"{result['seed_s']} s)")
        print(f"{'measure':<34}{'value':>12}{'target':>10}")
        print(f"{'service p50 ms (50 queries)':<34}{result['p50_ms']:>12}{'<= 10':>10}")
        print(f"{'service p95 ms':<34}{result['p95_ms']:>12}{'<= 40':>10}")
        print(f"{'service max ms':<34}{result['max_ms']:>12}{'':>10}")
        for kind, figures in result["sources"].items():
            print(f"{'  ' + kind + ' alone p50 / p95 ms':<34}{str(figures['p50_ms']) + ' / ' + str(figures['p95_ms']):>12}")
        print(f"{'service p50 / p95 ms, hot cache':<34}"
              f"{str(result['cached_p50_ms']) + ' / ' + str(result['cached_p95_ms']):>12}")
        print(f"{'GET /search rps (wrk -c16)':<34}{result['rps']:>12}{'':>10}")
        print(f"{'GET /search p50 / p99 ms':<34}{str(result['wrk_p50_ms']) + ' / ' + str(result['wrk_p99_ms']):>12}")
        print(f"{'wrk errors':<34}{result['errors']:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
