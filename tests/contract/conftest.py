"""Fixtures for the provider clients' contract tests: each module names its CLIENT_CLASS."""
import pytest


@pytest.fixture
def make_client(request, fake, redis, clock):
    """Build the module's client against the fake servers, with short timeouts."""
    cls = request.module.CLIENT_CLASS
    timeout_key = getattr(request.module, "READ_TIMEOUT_KEY", "PROVIDER_READ_TIMEOUT")
    clients = []

    def make(read_timeout=5.0, **overrides):
        settings = {**fake.settings, "PROVIDER_CONNECT_TIMEOUT": 1, timeout_key: read_timeout,
                    "BREAKER_FAIL_MAX": 3, **overrides}
        clients.append(cls.from_settings(settings, redis, clock=clock))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()
