"""Run an RQ worker, with RQ's scheduler, on the fast and slow queues: `python worker.py`."""
import sys

from app import create_app
from app.core.worker import arm_periodic_jobs, make_worker


def main() -> int:
    app = create_app()
    if not app.config["REDIS_URL"]:
        print("REDIS_URL is not set: without it jobs run in the web process's embedded worker.",
              file=sys.stderr)
        return 2
    arm_periodic_jobs(app)
    with app.app_context():
        make_worker(app).work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
