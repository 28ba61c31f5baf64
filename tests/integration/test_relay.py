"""The relay: one subscription per process hands each published message to the listeners of its channel."""
import threading
import time
import uuid

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.core import relay as relay_module
from app.core.relay import Relay


@pytest.fixture
def redis(app):
    return app.extensions["redis"]


@pytest.fixture
def pattern():
    # Each test's relay has a pattern (and so a thread name) of its own.
    return f"verdant:test:relay:{uuid.uuid4().hex}:*"


@pytest.fixture
def relay(redis, pattern):
    return Relay(redis, pattern)


@pytest.fixture
def channel(pattern):
    return lambda name: pattern.replace("*", name)


def _wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_each_listener_receives_its_channels_messages_in_order(relay, redis, channel):
    with relay.listen(channel("a")) as first, relay.listen(channel("a")) as second, \
            relay.listen(channel("b")) as other:
        # Published right after listen() returns: the subscription is already in place.
        for n in range(3):
            redis.publish(channel("a"), f"a{n}")
        redis.publish(channel("b"), "b0")
        redis.publish("verdant:test:elsewhere", "x")
        assert [first.get(timeout=5) for _ in range(3)] == [b"a0", b"a1", b"a2"]
        assert [second.get(timeout=5) for _ in range(3)] == [b"a0", b"a1", b"a2"]
        assert other.get(timeout=5) == b"b0"
        assert first.get(timeout=0.2) is None
        assert other.get(timeout=0.2) is None


def test_a_closed_listener_is_forgotten(relay, redis, channel):
    kept = relay.listen(channel("a"))
    with relay.listen(channel("a")):
        assert relay.listeners() == 2
    assert relay.listeners() == 1
    kept.close()
    assert relay.listeners() == 0
    redis.publish(channel("a"), "late")  # nobody to hand it to; nothing kept
    assert relay.listeners() == 0


def test_one_connection_serves_every_listener(app, relay, redis, channel):
    if not app.config.get("REDIS_URL"):
        pytest.skip("counting server connections needs real Redis (TEST_REDIS_URL); CI sets it")
    before = _pubsub_connections(redis)
    listeners = [relay.listen(channel(str(n))) for n in range(20)]
    try:
        assert _pubsub_connections(redis) == before + 1
    finally:
        for listener in listeners:
            listener.close()


def _pubsub_connections(redis):
    return sum(1 for client in redis.client_list() if int(client.get("psub", 0)) or int(client.get("sub", 0)))


class _Flaky:
    """A Redis client whose first subscription breaks as if the server dropped it."""

    def __init__(self, redis):
        self.redis = redis
        self.subscriptions = 0
        self.broken = None

    def pubsub(self):
        pubsub = self.redis.pubsub()
        self.subscriptions += 1
        if self.subscriptions == 1:
            self.broken = pubsub
            real_get = pubsub.get_message

            def get_message(timeout=0.0):
                message = real_get(timeout=timeout)
                if message is None and self.broken is None:
                    raise RedisConnectionError("connection dropped")
                return message
            pubsub.get_message = get_message
        return pubsub

    def drop(self):
        self.broken = None


def test_a_lost_subscription_is_told_to_listeners_and_made_again(redis, pattern, channel, monkeypatch):
    monkeypatch.setattr(relay_module, "RECONNECT_SECONDS", 0.05)
    monkeypatch.setattr(relay_module, "PING_SECONDS", 0.05)
    flaky = _Flaky(redis)
    relay = Relay(flaky, pattern)
    listener = relay.listen(channel("a"))
    redis.publish(channel("a"), "before")
    assert listener.get(timeout=5) == b"before"
    flaky.drop()
    # Messages may have been missed: the listener is told rather than left waiting.
    with pytest.raises(RedisConnectionError):
        listener.get(timeout=5)
    listener.close()
    assert _wait_for(lambda: flaky.subscriptions == 2)
    with relay.listen(channel("a")) as again:
        redis.publish(channel("a"), "after")
        assert again.get(timeout=5) == b"after"


def test_listen_fails_plainly_when_the_subscription_cannot_start(pattern, channel, monkeypatch):
    monkeypatch.setattr(relay_module, "START_SECONDS", 0.2)
    monkeypatch.setattr(relay_module, "RECONNECT_SECONDS", 0.05)

    class Down:
        def pubsub(self):
            raise RedisConnectionError("refused")

    relay = Relay(Down(), pattern)
    with pytest.raises(RedisConnectionError):
        relay.listen(channel("a"))
    assert relay.listeners() == 0
    assert _wait_for(lambda: not _running(pattern))  # with nobody waiting, it stops trying


def _running(pattern):
    return any(thread.name == f"relay {pattern}" for thread in threading.enumerate())


def test_the_subscription_ends_when_nobody_listens_and_starts_again(relay, redis, pattern, channel, monkeypatch):
    monkeypatch.setattr(relay_module, "PING_SECONDS", 0.05)
    with relay.listen(channel("a")):
        assert _running(pattern)
    assert _wait_for(lambda: not _running(pattern))
    with relay.listen(channel("a")) as again:
        redis.publish(channel("a"), "again")
        assert again.get(timeout=5) == b"again"
