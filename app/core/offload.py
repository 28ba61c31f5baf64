"""Run blocking C work (decoding images, hashing passwords) in an OS thread, under gevent too."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None


def in_os_thread(work: Callable[[], T]) -> Callable[[], T]:
    """Start work() in an OS thread and return wait(), which returns its result or raises its exception.

    It pays only for work that releases the GIL (Pillow's decoders do). Under gevent's monkey-patching
    a plain thread would be a greenlet on the same core, so gevent's pool of real threads is used.
    """
    if _gevent_patched():
        import gevent
        # The outcome comes back as a value: gevent's pool prints the traceback of any exception it sees,
        # on stderr and whether or not wait() is called (a damaged photo's check raises).
        result = gevent.get_hub().threadpool.spawn(_outcome, work)

        def wait() -> T:
            value, error = result.get()
            if error is not None:
                raise error
            return value
        return wait
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="verdant-offload")
    return _executor.submit(work).result


def run_in_os_thread(work: Callable[..., T], *args: object) -> T:
    """Run work(*args) in an OS thread and wait for it: long C work that must not hold up a gevent loop."""
    return in_os_thread(partial(work, *args))()


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("threading")


def _outcome(work: Callable[[], T]) -> tuple[T | None, BaseException | None]:
    try:
        return work(), None
    except BaseException as exc:  # handed to wait(), which raises it in the caller
        return None, exc
