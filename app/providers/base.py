"""Provider dataclasses, the PlantProvider interface, the error type and the provider registry."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

ERROR_KINDS = frozenset({
    "timeout", "connection", "server_error", "rate_limited", "auth",
    "bad_response", "circuit_open", "not_configured",
})
# Kinds worth trying again later without anyone changing a setting.
TRANSIENT_KINDS = frozenset({"timeout", "connection", "server_error", "rate_limited", "circuit_open"})

DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "PLANTID_BASE_URL": "https://plant.id/api/v3",
    "PLANTNET_BASE_URL": "https://my-api.plantnet.org/v2",
    "PLANTNET_PROJECT": "all",
    "TREFLE_BASE_URL": "https://trefle.io/api/v1",
    "OPENAI_BASE_URL": "https://api.openai.com/v1",
    "OPENAI_MODEL": "gpt-4o-mini",
    "PROVIDER_CONNECT_TIMEOUT": 3.05,
    "PROVIDER_READ_TIMEOUT": 20.0,
    "BREAKER_FAIL_MAX": 5,
    "BREAKER_RESET_TIMEOUT": 30.0,
})


@dataclass(frozen=True)
class ImageInput:
    """One photo of the plant, as sent to a provider."""

    data: bytes
    organ: str = "auto"
    content_type: str = "image/jpeg"


@dataclass(frozen=True)
class Suggestion:
    """One candidate species from one provider."""

    provider: str
    scientific_name: str
    probability: float
    authorship: str | None = None
    common_names: tuple[str, ...] = ()
    family: str | None = None
    genus: str | None = None
    images: tuple[str, ...] = ()
    external_ids: tuple[tuple[str, str], ...] = ()
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Disease:
    """One likely disease or disorder from a health assessment."""

    name: str
    probability: float
    description: str | None = None
    treatment: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (kind, steps): chemical, biological, prevention
    classification: tuple[str, ...] = ()
    cause: str | None = None


@dataclass(frozen=True)
class HealthAssessment:
    """Whether the plant looks healthy, and what may ail it."""

    healthy_probability: float
    threshold: float
    diseases: tuple[Disease, ...] = ()

    @property
    def is_healthy(self) -> bool:
        return self.healthy_probability >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        """Return the plain data kept with an identification (JSON)."""
        return {"healthy_probability": self.healthy_probability, "threshold": self.threshold,
                "is_healthy": self.is_healthy,
                "diseases": [{"name": d.name, "probability": d.probability, "description": d.description,
                              "treatment": [[kind, list(steps)] for kind, steps in d.treatment],
                              "classification": list(d.classification), "cause": d.cause}
                             for d in self.diseases]}


@dataclass(frozen=True)
class ProviderResult:
    """What one provider answered for one identification."""

    provider: str
    suggestions: tuple[Suggestion, ...]
    latency_ms: float
    quota_remaining: int | None = None
    is_plant: float | None = None
    health: HealthAssessment | None = None


class ProviderError(Exception):
    """A provider call that did not produce a usable answer."""

    def __init__(self, provider: str, kind: str, status: int | None = None, message: str = "",
                 *, retry_after: float | None = None, retryable: bool | None = None) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown provider error kind {kind!r}")
        self.provider = provider
        self.kind = kind
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.retryable = kind in TRANSIENT_KINDS if retryable is None else retryable
        super().__init__(provider, kind, status, message)

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        detail = f": {self.message}" if self.message else ""
        return f"{self.provider} {self.kind}{status}{detail}"

    def __reduce__(self) -> tuple[Any, ...]:
        # RQ pickles exceptions; keyword-only attributes would be lost otherwise.
        return (_rebuild_error, (self.provider, self.kind, self.status, self.message,
                                 self.retry_after, self.retryable))


def _rebuild_error(provider: str, kind: str, status: int | None, message: str,
                   retry_after: float | None, retryable: bool) -> ProviderError:
    return ProviderError(provider, kind, status, message, retry_after=retry_after, retryable=retryable)


class PlantProvider(Protocol):
    """A plant-identification service."""

    name: str
    # A provider that can also assess the plant's health takes identify(..., health=True).
    supports_health: bool

    def identify(self, images: Sequence[ImageInput], *, latitude: float | None = None,
                 longitude: float | None = None) -> ProviderResult:
        """Identify the plant shown in the images."""
        ...


def setting(settings: Mapping[str, Any], key: str) -> Any:
    """Read a setting, falling back to the documented default when it is unset or empty."""
    value = settings.get(key)
    return DEFAULTS.get(key) if value in (None, "") else value


PROVIDERS: Mapping[str, type]  # {"plantid": PlantIdProvider, "plantnet": PlantNetProvider}, resolved lazily


def _registry() -> Mapping[str, type]:
    # Imported here, not at the top: the provider modules import this one.
    from app.providers.plantid import PlantIdProvider
    from app.providers.plantnet import PlantNetProvider

    return MappingProxyType({"plantid": PlantIdProvider, "plantnet": PlantNetProvider})


def __getattr__(name: str) -> Any:
    if name == "PROVIDERS":
        return _registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_providers(settings: Mapping[str, Any], redis: Any,
                    *, clock: Callable[[], float] = time.time) -> dict[str, PlantProvider]:
    """Build the identification providers that have an API key, each with its shared breaker."""
    return {
        name: cls.from_settings(settings, redis, clock=clock)
        for name, cls in _registry().items()
        if setting(settings, f"{name.upper()}_API_KEY")
    }
