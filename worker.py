"""Run an RQ worker, with RQ's scheduler: `python worker.py [queue ...]` (default: fast and slow).

One worker serves both queues, fast first; but a slow job it has started (an enrichment waiting on
OpenAI, an email) makes an identification that arrives meanwhile wait for it. So the Procfile runs
`python worker.py fast` beside `python worker.py slow`; each runs the scheduler of its own queues.
"""
import gc
import sys

from app import create_app
from app.core.worker import arm_periodic_jobs, make_worker


def main(argv: list[str] | None = None) -> int:
    queues = sys.argv[1:] if argv is None else argv
    app = create_app()
    if not app.config["REDIS_URL"]:
        print("REDIS_URL is not set: without it jobs run in the web process's embedded worker.",
              file=sys.stderr)
        return 2
    try:
        worker = make_worker(app, queues=queues)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    arm_periodic_jobs(app)
    # What loading the app made lives as long as the worker: a full collection need not walk it (~100 ms).
    gc.freeze()
    with app.app_context():
        worker.work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
