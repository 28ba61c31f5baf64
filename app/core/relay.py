"""One Redis subscription per process, relaying what is published on it to whoever waits in that process.

Hundreds of open WebSockets each waiting on a subscription of their own would each hold a Redis
connection, its buffers and its parser: objects every full garbage collection walks, and a connection
Redis keeps. Here one background thread holds one pattern subscription and hands each message to the
inboxes listening on its channel; a listener costs a queue. The thread runs while anyone listens.
"""
import logging
import os
import queue
import threading
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# How long the relay's thread waits for a message before it pings Redis, so that a dropped connection is
# found while nothing is being published.
PING_SECONDS = 30.0
# How long a first listener waits for the subscription to start before giving up.
START_SECONDS = 5.0
RECONNECT_SECONDS = 1.0
_LOST = object()


class Relay:
    """Relay messages published on channels matching `pattern` (a Redis glob) to in-process listeners."""

    def __init__(self, client, pattern: str):
        self._client = client
        self._pattern = pattern
        self._lock = threading.Lock()
        self._inboxes: dict[str, set[queue.SimpleQueue]] = {}
        self._subscribed = threading.Event()
        self._pid = None  # the process whose thread is running; a forked child starts its own

    def listen(self, channel: str) -> "Listener":
        """Start listening to `channel`: what is published on it from the moment this returns is received.

        Raises redis.exceptions.ConnectionError if the subscription cannot be started.
        """
        inbox = queue.SimpleQueue()
        with self._lock:
            self._start()
            self._inboxes.setdefault(channel, set()).add(inbox)
        if not self._subscribed.wait(START_SECONDS):
            self._forget(channel, inbox)
            raise RedisConnectionError("the relay's subscription did not start")
        return Listener(self, channel, inbox)

    def listeners(self, channel: str | None = None) -> int:
        """Count the listeners, on one channel or on all."""
        with self._lock:
            if channel is not None:
                return len(self._inboxes.get(channel, ()))
            return sum(len(inboxes) for inboxes in self._inboxes.values())

    def _forget(self, channel: str, inbox: queue.SimpleQueue) -> None:
        with self._lock:
            inboxes = self._inboxes.get(channel)
            if inboxes is not None:
                inboxes.discard(inbox)
                if not inboxes:
                    del self._inboxes[channel]

    def _start(self) -> None:
        # Called holding the lock. A thread runs while anyone listens; a child forked from a process whose
        # relay ran inherits that process's listeners but not its thread.
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._inboxes = {}
        self._subscribed = subscribed = threading.Event()
        threading.Thread(target=self._run, args=(subscribed,), name=f"relay {self._pattern}", daemon=True).start()

    def _run(self, subscribed: threading.Event) -> None:
        while True:
            pubsub = None
            try:
                pubsub = self._client.pubsub()
                pubsub.psubscribe(self._pattern)
                self._relay(pubsub, subscribed)
                return  # nobody listens any more
            except RedisError as exc:
                log.warning("relay lost its subscription: %s", exc,
                            extra={"event": "dependency_down", "dependency": "redis"})
            except Exception:  # a bug here must not end relaying for the life of the process
                log.exception("relay failed")
            finally:
                subscribed.clear()
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except RedisError:
                        pass
            # Messages may have been missed: every listener is told, and none is left waiting.
            self._tell_all(_LOST)
            if self._stop_if_unheard():
                return
            time.sleep(RECONNECT_SECONDS)

    def _relay(self, pubsub, subscribed: threading.Event) -> None:
        while True:
            message = pubsub.get_message(timeout=PING_SECONDS)
            if message is None:
                if self._stop_if_unheard():
                    return
                pubsub.ping()
                continue
            kind = message["type"]
            if kind == "psubscribe":
                subscribed.set()
            elif kind == "pmessage":
                channel = message["channel"]
                self._tell(channel.decode() if isinstance(channel, bytes) else channel, message["data"])

    def _stop_if_unheard(self) -> bool:
        # With no listener the thread ends and its connection closes; the next listener starts another.
        with self._lock:
            if self._inboxes:
                return False
            self._pid = None
            return True

    def _tell(self, channel: str, data) -> None:
        with self._lock:
            inboxes = list(self._inboxes.get(channel, ()))
        for inbox in inboxes:
            inbox.put(data)

    def _tell_all(self, data) -> None:
        with self._lock:
            inboxes = [inbox for group in self._inboxes.values() for inbox in group]
        for inbox in inboxes:
            inbox.put(data)


class Listener:
    """What one waiter receives from the relay on one channel; close it (or use `with`) when done."""

    def __init__(self, relay: Relay, channel: str, inbox: queue.SimpleQueue):
        self._relay = relay
        self._channel = channel
        self._inbox = inbox

    def get(self, timeout: float):
        """Return the next message's data, or None after `timeout` seconds without one.

        Raises redis.exceptions.ConnectionError if the relay lost its subscription: messages may have
        been missed since.
        """
        try:
            data = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None
        if data is _LOST:
            raise RedisConnectionError("the relay lost its subscription")
        return data

    def close(self) -> None:
        self._relay._forget(self._channel, self._inbox)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
