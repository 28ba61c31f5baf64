"""Local fake Plant.id, Pl@ntNet, Trefle and OpenAI servers speaking the real wire formats over HTTP."""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import logging
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

PROVIDERS = ("plantid", "plantnet", "trefle", "openai")
PREFIXES: Mapping[str, str] = MappingProxyType({
    "plantid": "/plantid/api/v3",
    "plantnet": "/plantnet/v2",
    "trefle": "/trefle/api/v1",
    "openai": "/openai/v1",
})
MODES = frozenset({"ok", "slow", "500", "429", "401", "bad_json", "reset", "not_found",
                   "length", "rate_limit"})
# Modes that only make sense for one API.
PROVIDER_MODES: Mapping[str, str] = MappingProxyType({"length": "openai", "rate_limit": "openai"})
KEYS: Mapping[str, str] = MappingProxyType({
    "plantid": "fake-plantid-key",
    "plantnet": "fake-plantnet-key",
    "trefle": "fake-trefle-token",
    "openai": "sk-fake-openai-key",
})
PLANTID_MODEL_VERSION = "fake:1.0"
PLANTNET_VERSION = "fake:1.0"
PLANTNET_DAILY_QUOTA = 500
PLANTID_DAILY_CREDITS = 100
MAX_BODY = 60 * 1024 * 1024
PLANTID_V2_FIELDS = ("modifiers", "plant_details", "plant_language", "disease_details")
PLANTNET_ORGANS = frozenset({"auto", "leaf", "flower", "fruit", "bark"})


@dataclass(frozen=True)
class FakePlant:
    """A real, common plant the fakes can name."""

    scientific_name: str
    authorship: str
    family: str
    common_names: tuple[str, ...]
    synonyms: tuple[str, ...] = ()
    edible_parts: tuple[str, ...] | None = None
    propagation_methods: tuple[str, ...] | None = None
    watering: tuple[int, int] | None = None
    care: Mapping[str, Any] | None = None

    @property
    def genus(self) -> str:
        """Return the genus, the first word of the name."""
        return self.scientific_name.split()[0]

    @property
    def full_name(self) -> str:
        """Return the name with its authorship."""
        return f"{self.scientific_name} {self.authorship}"

    @property
    def slug(self) -> str:
        """Return the Trefle-style slug."""
        return self.scientific_name.lower().replace(" ", "-")

    def number(self, salt: str, modulo: int) -> int:
        """Derive a stable fake identifier from the name."""
        digest = hashlib.sha256(f"{salt}:{self.scientific_name}".encode()).digest()
        return int.from_bytes(digest[:6], "big") % modulo

    @property
    def entity_id(self) -> str:
        """Return a 16-hex Plant.id knowledge-base id."""
        return hashlib.sha256(f"plantid:{self.scientific_name}".encode()).hexdigest()[:16]


def _care(light: int, humidity: int, tmin: float, tmax: float, ph: tuple[float, float], rate: str,
          height_cm: int, habit: str, bloom: list[str] | None = None, toxicity: str | None = None,
          edible_part: list[str] | None = None) -> dict[str, Any]:
    return {"light": light, "atmospheric_humidity": humidity, "minimum_temperature": tmin,
            "maximum_temperature": tmax, "ph": ph, "growth_rate": rate, "average_height": height_cm,
            "growth_habit": habit, "bloom_months": bloom, "toxicity": toxicity, "edible_part": edible_part}


PLANTS: tuple[FakePlant, ...] = (
    FakePlant("Monstera deliciosa", "Liebm.", "Araceae", ("Swiss cheese plant", "Split-leaf philodendron"),
              ("Philodendron pertusum",), ("fruit",), ("cuttings", "seeds"), (2, 2),
              _care(6, 7, 10, 32, (5.5, 7.0), "Moderate", 300, "Vine", None, "Medium", ["fruit"])),
    FakePlant("Ficus lyrata", "Warb.", "Moraceae", ("Fiddle-leaf fig",), (), None, ("cuttings", "air layering"),
              (2, 2), _care(7, 5, 12, 35, (6.0, 7.0), "Moderate", 400, "Tree", None, "Low")),
    FakePlant("Epipremnum aureum", "(Linden & André) G.S.Bunting", "Araceae", ("Golden pothos", "Devil's ivy"),
              ("Scindapsus aureus", "Pothos aureus"), None, ("cuttings",), (1, 2),
              _care(5, 6, 12, 32, (6.0, 6.5), "Rapid", 250, "Vine", None, "Medium")),
    FakePlant("Sansevieria trifasciata", "Prain", "Asparagaceae", ("Snake plant", "Mother-in-law's tongue"),
              ("Dracaena trifasciata",), None, ("division", "leaf cuttings"), (1, 1),
              _care(4, 3, 10, 35, (5.5, 7.5), "Slow", 90, "Forb/herb", None, "Low")),
    FakePlant("Chlorophytum comosum", "(Thunb.) Jacques", "Asparagaceae", ("Spider plant",), (), None,
              ("plantlets", "division"), (2, 2)),
    FakePlant("Spathiphyllum wallisii", "Regel", "Araceae", ("Peace lily",), (), None, ("division",), (2, 3),
              _care(3, 8, 13, 30, (5.8, 6.5), "Moderate", 60, "Forb/herb", ["may", "jun", "jul"], "Medium")),
    FakePlant("Zamioculcas zamiifolia", "(Lodd.) Engl.", "Araceae", ("ZZ plant", "Zanzibar gem"), (), None,
              ("division", "leaf cuttings"), (1, 1)),
    FakePlant("Aloe vera", "(L.) Burm.f.", "Asphodelaceae", ("Aloe vera", "Barbados aloe"),
              ("Aloe barbadensis",), ("leaves",), ("offsets",), (1, 1),
              _care(8, 2, 5, 40, (7.0, 8.5), "Slow", 60, "Succulent", ["jul", "aug"], "Low", ["leaves"])),
    FakePlant("Ficus elastica", "Roxb. ex Hornem.", "Moraceae", ("Rubber plant", "Rubber fig"), (), None,
              ("cuttings", "air layering"), (2, 2)),
    FakePlant("Crassula ovata", "(Mill.) Druce", "Crassulaceae", ("Jade plant", "Money tree"),
              ("Crassula argentea",), None, ("leaf cuttings", "stem cuttings"), (1, 1),
              _care(8, 3, 7, 35, (6.0, 7.0), "Slow", 100, "Shrub", ["nov", "dec"], "Medium")),
    FakePlant("Philodendron hederaceum", "(Jacq.) Schott", "Araceae", ("Heartleaf philodendron",),
              ("Philodendron scandens",), None, ("cuttings",), (2, 2)),
    FakePlant("Maranta leuconeura", "E.Morren", "Marantaceae", ("Prayer plant",), (), None, ("division",), (2, 3)),
    FakePlant("Hedera helix", "L.", "Araliaceae", ("Common ivy", "English ivy"), (), None, ("cuttings",), (2, 2),
              _care(4, 5, -20, 30, (6.0, 7.8), "Rapid", 1000, "Vine", ["sep", "oct"], "High")),
    FakePlant("Lavandula angustifolia", "Mill.", "Lamiaceae", ("English lavender", "Lavender"),
              ("Lavandula officinalis",), ("flowers",), ("cuttings", "seeds"), (1, 1),
              _care(9, 3, -15, 35, (6.5, 8.0), "Moderate", 60, "Subshrub", ["jun", "jul", "aug"], None,
                    ["flowers"])),
    FakePlant("Rosa canina", "L.", "Rosaceae", ("Dog rose",), (), ("fruit",), ("cuttings", "seeds"), (2, 2)),
    FakePlant("Ocimum basilicum", "L.", "Lamiaceae", ("Basil", "Sweet basil"), (), ("leaves",), ("seeds",), (2, 2),
              _care(8, 5, 10, 35, (6.0, 7.5), "Rapid", 50, "Forb/herb", ["jul", "aug", "sep"], None, ["leaves"])),
    FakePlant("Solanum lycopersicum", "L.", "Solanaceae", ("Tomato",), ("Lycopersicon esculentum",), ("fruit",),
              ("seeds",), (2, 3),
              _care(9, 5, 10, 35, (5.5, 7.0), "Rapid", 150, "Forb/herb", ["jun", "jul", "aug"], "Medium",
                    ["fruit"])),
    FakePlant("Helianthus annuus", "L.", "Asteraceae", ("Common sunflower", "Sunflower"), (), ("seeds",),
              ("seeds",), (2, 2)),
    FakePlant("Taraxacum officinale", "F.H.Wigg.", "Asteraceae", ("Common dandelion", "Dandelion"), (),
              ("leaves", "flowers", "roots"), ("seeds",), None),
    FakePlant("Bellis perennis", "L.", "Asteraceae", ("Common daisy", "Lawn daisy"), (), ("flowers", "leaves"),
              ("seeds", "division"), None),
    FakePlant("Pilea peperomioides", "Diels", "Urticaceae", ("Chinese money plant",), (), None, ("offsets",),
              (2, 2)),
    FakePlant("Monstera adansonii", "Schott", "Araceae", ("Swiss cheese vine", "Adanson's monstera"), (), None,
              ("cuttings",), (2, 2)),
)


def _digest(images: Sequence[bytes]) -> bytes:
    outer = hashlib.sha256()
    for image in images:
        outer.update(hashlib.sha256(image).digest())
    return outer.digest()


def fake_ranking(images: Sequence[bytes], provider: str) -> list[tuple[FakePlant, float]]:
    """Return the (plant, probability) list a fake identifier answers for these image bytes, best first.

    Plant.id and Pl@ntNet agree on the top species except for about one image in eight, where
    Pl@ntNet ranks Plant.id's second choice first. Pl@ntNet adds a third result under 0.01 now and
    then, which clients must drop.
    """
    d = _digest(images)
    n = len(PLANTS)
    top = int.from_bytes(d[:4], "big") % n
    second = (top + 1 + d[4] % (n - 1)) % n
    third = next(i for i in ((second + 1 + k + d[5] % (n - 2)) % n for k in range(n)) if i not in (top, second))
    if provider == "plantid":
        p_top = round(0.70 + d[6] / 255 * 0.28, 4)
        return [(PLANTS[top], p_top), (PLANTS[second], round((1 - p_top) * (0.3 + d[7] / 255 * 0.5), 4))]
    s_top = round(0.55 + d[8] / 255 * 0.40, 5)
    s_second = round((1 - s_top) * (0.2 + d[9] / 255 * 0.5), 5)
    s_third = round(0.004 + d[10] / 255 * 0.03, 5)
    if d[11] % 8 == 0:
        order = [second, top]
    else:
        order = [top, second if d[12] % 2 else third]
    ranking = [(PLANTS[order[0]], s_top), (PLANTS[order[1]], s_second)]
    leftover = next(i for i in (top, second, third) if i not in order)
    return ranking + [(PLANTS[leftover], min(s_third, s_second))]


def image_for(scientific_name: str, *, agree: bool = True) -> bytes:
    """Return image bytes for which Plant.id's fake names this species first (and Pl@ntNet agrees or not)."""
    for i in range(100_000):
        data = f"verdant-fake-image-{i}".encode()
        plantid = fake_ranking([data], "plantid")
        plantnet = fake_ranking([data], "plantnet")
        if plantid[0][0].scientific_name == scientific_name and \
                (plantnet[0][0] is plantid[0][0]) == agree:
            return data
    raise LookupError(f"no fake image found for {scientific_name!r}")


@dataclass(frozen=True)
class RecordedRequest:
    """One request a fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON (None when it is not)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class _Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json", headers or {})


def _text(status: int, text: str) -> _Reply:
    return _Reply(status, text.encode(), "text/plain; charset=utf-8")


def _boom(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> _Reply:
    return _json(status, {"statusCode": status, "error": error, "message": message}, headers)


def _openai_error(status: int, message: str, type_: str, code: str | None,
                  headers: dict[str, str] | None = None) -> _Reply:
    return _json(status, {"error": {"message": message, "type": type_, "param": None, "code": code}}, headers)


def parse_multipart(content_type: str, body: bytes) -> list[_Part] | None:
    """Split a multipart/form-data body into parts; None when it is not well-formed."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not content_type.lower().startswith("multipart/form-data") or not match:
        return None
    delimiter = b"--" + match.group(1).encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        return None
    parts = []
    for chunk in chunks[1:-1]:
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            return None
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if not name:
            return None
        parts.append(_Part(name.group(1), filename.group(1) if filename else None,
                           headers.get("content-type"), data.removesuffix(b"\r\n")))
    return parts


def _placeholder_svg(seed: str) -> bytes:
    hue = int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) % 120 + 60
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160" viewBox="0 0 160 160">'
            f'<rect width="160" height="160" fill="hsl({hue},35%,88%)"/>'
            f'<path d="M80 140 C30 110 30 40 80 20 C130 40 130 110 80 140Z" fill="hsl({hue},45%,40%)"/>'
            f'<path d="M80 140 L80 30" stroke="hsl({hue},30%,85%)" stroke-width="3"/></svg>').encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 makes bursts of parallel calls wait for SYN retries
    fake: FakeProviders

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        # Clients that time out or reset leave broken sockets behind; that is the point of some modes.
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        log.exception("fake provider handler failed")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    timeout = 10  # idle keep-alive connections give their thread back
    server: _Server
    server_version = "VerdantFake/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake %s", format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        arrived = time.monotonic()
        fake = self.server.fake
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(_json(413, {"error": "payload too large"}), close=True)
            return
        body = self.rfile.read(length) if length else b""
        if path == "/_control" or path.startswith("/_control/"):
            self._send(fake._control(method, path, body))
            return
        if path.startswith("/media/"):
            self._send(_Reply(200, _placeholder_svg(path), "image/svg+xml"))
            return
        provider = next((p for p, prefix in PREFIXES.items() if path == prefix or path.startswith(prefix + "/")), None)
        if provider is None:
            self._send(_json(404, {"error": "no fake API at this path"}))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        mode, delay = fake._arrive(provider, RecordedRequest(method, path, query, headers, body))
        if mode == "reset":
            if not (delay and fake._stopping.wait(delay)):
                self._drop()
            return
        try:
            reply = fake._answer(provider, method, path[len(PREFIXES[provider]):] or "/", query,
                                 self.headers, body, mode)
        except Exception:
            log.exception("fake %s failed", provider)
            reply = _text(500, "fake server bug")
        if mode == "bad_json" and 200 <= reply.status < 300 and reply.content_type == "application/json":
            reply.body = reply.body[: max(1, len(reply.body) // 2)]
        # The delay is the API's answer time from the request's arrival, as a client sees it: the
        # fake's own work (reading the body, building the answer) happens inside it, not after.
        if delay and fake._stopping.wait(max(0.0, delay - (time.monotonic() - arrived))):
            self._drop()
            return
        if mode == "slow" and fake._stopping.wait(fake.slow_seconds):
            self._drop()
            return
        self._send(reply)

    def _send(self, reply: _Reply, *, close: bool = False) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(reply.body)

    def _drop(self) -> None:
        # Linger 0 turns the close into a TCP reset: the client sees a dead connection, no response.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


class FakeProviders:
    """One local HTTP server hosting fake Plant.id, Pl@ntNet, Trefle and OpenAI APIs."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, slow_seconds: float = 30.0) -> None:
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._modes: dict[str, tuple[str, float]] = {}
        self._hits: dict[str, int] = {}
        self._requests: dict[str, list[RecordedRequest]] = {}
        self._identifications: dict[str, dict[str, Any]] = {}
        self._plantid_used = 0
        self._plantnet_used = 0
        self.reset()
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"fake-providers-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def settings(self) -> dict[str, str]:
        """Return the *_BASE_URL and *_API_KEY settings that point the real clients here."""
        return settings_for(self.url)

    def set_mode(self, provider: str, mode: str, delay: float | None = None) -> None:
        """Make one fake API answer in a mode (ok, slow, 500, 429, 401, bad_json, reset, not_found...)."""
        if provider not in PREFIXES:
            raise ValueError(f"unknown provider {provider!r}")
        if mode not in MODES or PROVIDER_MODES.get(mode, provider) != provider:
            raise ValueError(f"mode {mode!r} is not available for {provider}")
        if delay is not None and not 0 <= float(delay) <= 60:
            raise ValueError("delay must be between 0 and 60 seconds")
        with self._lock:
            current_delay = self._modes[provider][1]
            self._modes[provider] = (mode, current_delay if delay is None else float(delay))

    def mode(self, provider: str) -> tuple[str, float]:
        """Return a fake API's (mode, delay)."""
        with self._lock:
            return self._modes[provider]

    def hits(self, provider: str | None = None) -> Any:
        """Return the request count of one fake API, or a dict of all of them."""
        with self._lock:
            return self._hits[provider] if provider else dict(self._hits)

    def requests(self, provider: str) -> list[RecordedRequest]:
        """Return the requests one fake API received (the last 50)."""
        with self._lock:
            return list(self._requests[provider])

    def last_request(self, provider: str) -> RecordedRequest | None:
        """Return the latest request one fake API received."""
        with self._lock:
            return self._requests[provider][-1] if self._requests[provider] else None

    def reset(self) -> None:
        """Put every fake API back to "ok" with no delay, and zero the counters and quotas."""
        with self._lock:
            self._modes = {p: ("ok", 0.0) for p in PROVIDERS}
            self._hits = {p: 0 for p in PROVIDERS}
            self._requests = {p: [] for p in PROVIDERS}
            self._identifications = {}
            self._plantid_used = 0
            self._plantnet_used = 0

    def stop(self) -> None:
        """Stop the server, waking any request still sleeping in slow mode."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeProviders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _arrive(self, provider: str, request: RecordedRequest) -> tuple[str, float]:
        with self._lock:
            self._hits[provider] += 1
            self._requests[provider] = (self._requests[provider] + [request])[-50:]
            return self._modes[provider]

    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        if method == "GET" and path == "/_control":
            with self._lock:
                modes = {p: {"mode": m, "delay": d} for p, (m, d) in self._modes.items()}
                return _json(200, {"hits": dict(self._hits), "modes": modes})
        if method == "POST" and path == "/_control/reset":
            self.reset()
            return _json(200, {"ok": True})
        if method == "POST" and path == "/_control":
            try:
                payload = json.loads(body)
                self.set_mode(payload["provider"], payload["mode"], payload.get("delay"))
            except (ValueError, KeyError, TypeError) as exc:
                return _json(400, {"error": str(exc) or "invalid control request"})
            mode, delay = self.mode(payload["provider"])
            return _json(200, {"provider": payload["provider"], "mode": mode, "delay": delay})
        return _json(405 if path in ("/_control", "/_control/reset") else 404, {"error": "unknown control call"})

    def _answer(self, provider: str, method: str, path: str, query: dict[str, list[str]],
                headers: Any, body: bytes, mode: str) -> _Reply:
        handler = getattr(self, f"_{provider}")
        return handler(method, path, query, headers, body, mode)

    def _media(self, *parts: str) -> str:
        return f"{self.url}/media/{'/'.join(parts)}.svg"

    def _plantid(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes,
                 mode: str) -> _Reply:
        if headers.get("Api-Key") != KEYS["plantid"] or mode == "401":
            return _text(401, "The specified api key not found.")
        if mode == "429":
            return _text(429, "The specified api key does not have sufficient number of available credits.")
        if mode == "500":
            return _Reply(500, b"<html><body><h1>Server Error (500)</h1></body></html>", "text/html")
        details = [d for d in ",".join(query.get("details", [])).split(",") if d]
        language = (query.get("language") or ["en"])[0].split(",")[0] or "en"
        if method == "GET" and path == "/usage_info":
            with self._lock:
                used = self._plantid_used
            return _json(200, {
                "active": True,
                "credit_limits": {"day": PLANTID_DAILY_CREDITS, "week": None, "month": None, "total": None},
                "used": {"day": used, "week": used, "month": used, "total": used},
                "remaining": {"day": max(PLANTID_DAILY_CREDITS - used, 0), "week": None, "month": None,
                              "total": None},
                "can_use_credits": {"value": used < PLANTID_DAILY_CREDITS, "reason": None},
            })
        if method == "POST" and path == "/identification":
            return self._plantid_create(query, headers, body, mode, details, language)
        token_match = re.fullmatch(r"/identification/([A-Za-z0-9]+)", path)
        if method == "GET" and token_match:
            with self._lock:
                stored = self._identifications.get(token_match.group(1))
                if stored is not None:
                    stored["polls"] += 1
                    polls = stored["polls"]
            if stored is None:
                return _text(404, "The requested identification does not exist.")
            done = not stored["async"] or polls > 1
            return _json(200, self._plantid_identification(stored, details, language, done=done))
        return _text(404, "Not found.")

    def _plantid_create(self, query: dict[str, list[str]], headers: Any, body: bytes, mode: str,
                        details: list[str], language: str) -> _Reply:
        if "json" not in (headers.get("Content-Type") or ""):
            return _json(400, "Invalid JSON.")
        try:
            payload = json.loads(body)
        except ValueError:
            return _json(400, "Invalid JSON.")
        if not isinstance(payload, dict):
            return _json(400, "Invalid JSON.")
        # Deliberately stricter than the real API: v2 vocabulary is the seed's defect we must not repeat.
        v2 = [name for name in PLANTID_V2_FIELDS if name in payload]
        if v2:
            return _json(400, f"Unknown field(s) for API v3: {', '.join(v2)}.")
        images = payload.get("images")
        if not isinstance(images, list) or not 1 <= len(images) <= 5:
            return _json(400, "Invalid image data")
        raw_images = []
        for image in images:
            if not isinstance(image, str):
                return _json(400, "Invalid image data")
            if image.startswith(("http://", "https://")):
                raw_images.append(image.encode())
                continue
            encoded = image.split(",", 1)[1] if image.startswith("data:") else image
            try:
                raw_images.append(base64.b64decode(encoded, validate=True))
            except (binascii.Error, ValueError):
                return _json(400, "Invalid image data")
        for key in ("latitude", "longitude"):
            value = payload.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                return _json(400, f"Invalid {key}.")
        if payload.get("health") not in (None, "all", "only"):
            return _json(400, "Invalid health value.")
        if "similar_images" in payload and not isinstance(payload["similar_images"], bool):
            return _json(400, "Invalid similar_images value.")
        is_async = (query.get("async") or ["false"])[0] == "true"
        token = hashlib.sha256(_digest(raw_images) + str(time.time_ns()).encode()).hexdigest()
        token = base64.b32encode(bytes.fromhex(token[:20])).decode().rstrip("=")[:15].lower()
        stored = {
            "token": token, "images": raw_images, "payload": payload, "async": is_async, "polls": 0,
            "not_found": mode == "not_found", "created": time.time(),
        }
        with self._lock:
            self._plantid_used += 1
            self._identifications[token] = stored
            if len(self._identifications) > 200:
                self._identifications.pop(next(iter(self._identifications)))
        return _json(201, self._plantid_identification(stored, details, language, done=not is_async))

    def _plantid_identification(self, stored: dict[str, Any], details: list[str], language: str,
                                *, done: bool) -> dict[str, Any]:
        payload = stored["payload"]
        digest = _digest(stored["images"]).hex()
        health = payload.get("health")
        identification: dict[str, Any] = {
            "access_token": stored["token"],
            "model_version": PLANTID_MODEL_VERSION,
            "custom_id": payload.get("custom_id"),
            "input": {
                "latitude": payload.get("latitude"),
                "longitude": payload.get("longitude"),
                "similar_images": payload.get("similar_images", True),
                "images": [self._media("plantid", "input", f"{digest[:32]}-{i}") for i in range(len(stored["images"]))],
                "datetime": datetime.fromtimestamp(stored["created"], tz=timezone.utc).isoformat(),
            },
            "status": "COMPLETED" if done else ("SUBMITTED" if stored["polls"] else "CREATED"),
            "sla_compliant_client": True,
            "sla_compliant_system": True,
            "created": stored["created"],
            "completed": stored["created"] + 0.8 if done else None,
        }
        if health:
            identification["input"]["health"] = health
        if not done:
            return identification
        ranking = [] if stored["not_found"] else fake_ranking(stored["images"], "plantid")
        result: dict[str, Any] = {
            "is_plant": {"probability": 0.031 if stored["not_found"] else 0.9871, "threshold": 0.5,
                         "binary": not stored["not_found"]},
        }
        if health != "only":
            result["classification"] = {"suggestions": [
                self._plantid_suggestion(plant, probability, details, language,
                                         similar=payload.get("similar_images", True))
                for plant, probability in ranking
            ]}
        if health:
            result["is_healthy"] = {"probability": 0.2104, "threshold": 0.525, "binary": False}
            result["disease"] = {"suggestions": [_plantid_disease(language)]}
        identification["result"] = result
        return identification

    def _plantid_suggestion(self, plant: FakePlant, probability: float, details: list[str], language: str,
                            *, similar: bool) -> dict[str, Any]:
        wiki = f"https://en.wikipedia.org/wiki/{plant.scientific_name.replace(' ', '_')}"
        image = {"value": self._media("plantid", "kb", plant.entity_id), "citation": "Fake Contributor",
                 "license_name": "CC BY-SA 4.0", "license_url": "https://creativecommons.org/licenses/by-sa/4.0/"}
        available: dict[str, Any] = {
            "common_names": list(plant.common_names) or None,
            "url": wiki,
            "description": {"value": f"Synthetic description of {plant.scientific_name} from a fake server.",
                            "citation": wiki, "license_name": "CC BY-SA 3.0",
                            "license_url": "https://creativecommons.org/licenses/by-sa/3.0/"},
            "taxonomy": {"kingdom": "Plantae", "phylum": "Tracheophyta", "class": None, "order": None,
                         "family": plant.family, "genus": plant.genus},
            "rank": "species",
            "name_authority": plant.full_name,
            "gbif_id": plant.number("gbif", 9_000_000) + 1_000_000,
            "inaturalist_id": plant.number("inat", 900_000) + 10_000,
            "image": image,
            "images": [image],
            "synonyms": list(plant.synonyms),
            "edible_parts": list(plant.edible_parts) if plant.edible_parts else None,
            "propagation_methods": list(plant.propagation_methods) if plant.propagation_methods else None,
            "watering": {"min": plant.watering[0], "max": plant.watering[1]} if plant.watering else None,
            "best_watering": None, "best_light_condition": None, "best_soil_type": None,
            "common_uses": None, "toxicity": None, "cultural_significance": None,
        }
        chosen = {key: available[key] for key in details if key in available}
        suggestion: dict[str, Any] = {
            "id": plant.entity_id,
            "name": plant.scientific_name,
            "probability": probability,
            "details": {**chosen, "language": language, "entity_id": plant.entity_id},
        }
        if similar:
            suggestion["similar_images"] = [
                {"id": hashlib.sha1(f"{plant.scientific_name}{i}".encode()).hexdigest(),
                 "url": self._media("plantid", "similar", f"{plant.entity_id}-{i}"),
                 "url_small": self._media("plantid", "similar", f"{plant.entity_id}-{i}.small"),
                 "similarity": round(0.78 - i * 0.09, 3),
                 **({"license_name": "CC BY 4.0", "license_url": "https://creativecommons.org/licenses/by/4.0/",
                     "citation": "Fake Contributor"} if i == 0 else {})}
                for i in range(2)
            ]
        return suggestion

    def _plantnet(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes,
                  mode: str) -> _Reply:
        if method == "GET" and path == "/_status":
            return _json(200, {"status": "ok"})
        if (query.get("api-key") or [""])[0] != KEYS["plantnet"] or mode == "401":
            return _boom(401, "Unauthorized", "Invalid API key")
        project_match = re.fullmatch(r"/identify/([a-z0-9-]+)", path)
        if not project_match:
            return _boom(404, "Not Found", "Not Found")
        if method != "POST":
            return _boom(400, "Bad Request", "Upload images with POST multipart/form-data")
        if mode == "429":
            return _boom(429, "Too Many Requests", "Too Many Requests", {"Retry-After": "60"})
        if mode == "500":
            return _boom(500, "Internal Server Error", "An internal server error occurred")
        parts = parse_multipart(headers.get("Content-Type") or "", body)
        if parts is None:
            return _boom(400, "Bad Request", "Invalid multipart/form-data body")
        images = [p for p in parts if p.name == "images"]
        organs = [p.data.decode("utf-8", "replace") for p in parts if p.name == "organs"]
        if not images:
            return _boom(400, "Bad Request", "You must provide at least one image")
        if len(images) > 5:
            return _boom(400, "Bad Request", "You can provide at most 5 images")
        if organs and len(organs) != len(images):
            return _boom(400, "Bad Request", "Number of organs must match number of images")
        if any(organ not in PLANTNET_ORGANS for organ in organs):
            return _boom(400, "Bad Request", f"Organs must be in {sorted(PLANTNET_ORGANS)}")
        if any(p.content_type not in ("image/jpeg", "image/png") for p in images):
            return _boom(400, "Bad Request", "Unsupported file type: only image/jpeg and image/png are allowed")
        if mode == "not_found":
            return _boom(404, "Not Found", "Species not found")
        organs = organs or ["auto"] * len(images)
        raw = [p.data for p in images]
        with self._lock:
            self._plantnet_used += 1
            remaining = max(PLANTNET_DAILY_QUOTA - self._plantnet_used, 0)
        include_images = (query.get("include-related-images") or ["false"])[0] == "true"
        try:
            nb_results = int((query.get("nb-results") or ["10"])[0])
        except ValueError:
            return _boom(400, "Bad Request", "nb-results must be an integer")
        project = project_match.group(1)
        hashes = [hashlib.md5(data).hexdigest() for data in raw]
        results = [self._plantnet_result(plant, score, include_images)
                   for plant, score in fake_ranking(raw, "plantnet")[:max(nb_results, 1)]]
        seconds_left = 86400 - int(time.time()) % 86400
        partition = base64.b64encode(b"fake-identify").decode()
        return _json(200, {
            "query": {"project": project, "images": hashes, "organs": organs,
                      "includeRelatedImages": include_images, "noReject": False},
            "predictedOrgans": [{"image": h, "organ": "leaf" if o == "auto" else o, "score": 0.91}
                                for h, o in zip(hashes, organs)],
            "language": (query.get("lang") or ["en"])[0],
            "preferedReferential": project,
            "bestMatch": results[0]["species"]["scientificName"],
            "results": results,
            "version": PLANTNET_VERSION,
            "remainingIdentificationRequests": remaining,
        }, {
            "RateLimit-Policy": f'"dailyQuota";q={PLANTNET_DAILY_QUOTA};w=86400;pk=:{partition}:',
            "RateLimit": f'"dailyQuota";r={remaining};t={seconds_left};pk=:{partition}:',
        })

    def _plantnet_result(self, plant: FakePlant, score: float, include_images: bool) -> dict[str, Any]:
        def taxon(name: str) -> dict[str, str]:
            return {"scientificNameWithoutAuthor": name, "scientificNameAuthorship": "", "scientificName": name}

        result: dict[str, Any] = {
            "score": score,
            "species": {
                "scientificNameWithoutAuthor": plant.scientific_name,
                "scientificNameAuthorship": plant.authorship,
                "scientificName": plant.full_name,
                "genus": taxon(plant.genus),
                "family": taxon(plant.family),
                "commonNames": list(plant.common_names),
            },
            "gbif": {"id": str(plant.number("gbif", 9_000_000) + 1_000_000)},
            "powo": {"id": f"{plant.number('powo', 900_000) + 100_000}-1"},
            "iucn": {"id": str(plant.number("iucn", 90_000_000)), "category": "LC"},
        }
        if include_images:
            key = hashlib.sha1(plant.scientific_name.encode()).hexdigest()
            result["images"] = [{
                "organ": "leaf", "author": "Fake Contributor", "license": "cc-by-sa",
                "date": {"timestamp": 1591798765012, "string": "June 10, 2020"},
                "url": {size: self._media("plantnet", size, key) for size in ("o", "m", "s")},
                "citation": "Fake Contributor / Pl@ntNet, cc-by-sa",
            }]
        return result

    def _trefle(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes,
                mode: str) -> _Reply:
        bearer = (headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        token = (query.get("token") or [""])[0] or bearer
        if not token:
            return _json(401, {"error": True, "messages":
                               "An access token is required to access this resource. See https://trefle.io"})
        if token != KEYS["trefle"] or mode == "401":
            return _json(401, {"error": True, "messages": "Invalid access token"})
        if mode == "429":
            return _json(429, {"error": True, "code": "too_many_requests", "message": "Too many requests",
                               "messages": "Too many requests"},
                         {"Retry-After": "60", "RateLimit-Limit": "120", "RateLimit-Remaining": "0",
                          "RateLimit-Reset": "60"})
        if mode == "500":
            return _json(500, {"error": True, "message": "Internal Server Error"})
        if method != "GET":
            return _json(404, {"error": True, "message": "Not found"})
        if path == "/species/search":
            q = (query.get("q") or [""])[0].strip()
            if not q:
                return _json(422, {"error": True, "message": "param is missing or the value is empty: q"})
            wanted = q.casefold()
            hits = [] if mode == "not_found" else [
                p for p in PLANTS
                if wanted in p.scientific_name.casefold() or any(wanted in c.casefold() for c in p.common_names)
            ]
            return _json(200, self._trefle_list(hits, f"/api/v1/species/search?q={q}"))
        if path == "/species":
            name = (query.get("filter[scientific_name]") or [""])[0]
            hits = [] if mode == "not_found" else [p for p in PLANTS if p.scientific_name == name]
            return _json(200, self._trefle_list(hits, "/api/v1/species"))
        match = re.fullmatch(r"/species/([A-Za-z0-9-]+)", path)
        plant = next((p for p in PLANTS if match and match.group(1) in (p.slug, str(_trefle_id(p)))), None)
        if plant is None or mode == "not_found":
            return _json(404, {"error": True, "message": "Couldn't find Species"})
        return _json(200, {"data": self._trefle_species(plant),
                           "meta": {"images_count": 1, "sources_count": 1, "synonyms_count": len(plant.synonyms),
                                    "last_modified": "2020-10-11T12:00:00.000Z"}})

    def _trefle_light(self, plant: FakePlant) -> dict[str, Any]:
        return {
            "id": _trefle_id(plant),
            "common_name": plant.common_names[0] if plant.common_names else None,
            "slug": plant.slug,
            "scientific_name": plant.scientific_name,
            "year": 1753,
            "bibliography": "Fake bibliography",
            "author": plant.authorship,
            "status": "accepted",
            "rank": "species",
            "family_common_name": None,
            "family": plant.family,
            "genus_id": plant.number("genus", 9000) + 1000,
            "genus": plant.genus,
            "image_url": self._media("trefle", plant.slug),
            "synonyms": list(plant.synonyms),
            "links": {"self": f"/api/v1/species/{plant.slug}", "plant": f"/api/v1/plants/{plant.slug}",
                      "genus": f"/api/v1/genus/{plant.genus.lower()}"},
        }

    def _trefle_list(self, plants: list[FakePlant], self_link: str) -> dict[str, Any]:
        return {"data": [self._trefle_light(p) for p in plants],
                "links": {"self": self_link, "first": f"{self_link}&page=1", "last": f"{self_link}&page=1"},
                "meta": {"total": len(plants)}}

    def _trefle_species(self, plant: FakePlant) -> dict[str, Any]:
        care = plant.care or {}

        def temp(celsius: float | None) -> dict[str, float | None]:
            return {"deg_f": None if celsius is None else round(celsius * 9 / 5 + 32, 1), "deg_c": celsius}

        ph = care.get("ph") or (None, None)
        data = self._trefle_light(plant)
        data.update({
            "observations": None,
            "vegetable": bool(care.get("edible_part")) if care else None,
            "duration": ["perennial"] if care else None,
            "edible": bool(care.get("edible_part")) if care else None,
            "edible_part": care.get("edible_part"),
            "common_names": {"en": list(plant.common_names)},
            "distribution": {"native": [], "introduced": []},
            "distributions": {"native": [], "introduced": []},
            "images": {"flower": [], "leaf": [{"id": plant.number("img", 10**6), "copyright": "Fake Contributor",
                                               "image_url": self._media("trefle", "leaf", plant.slug)}],
                       "habit": [], "fruit": [], "bark": [], "other": []},
            "flower": {"color": None, "conspicuous": None},
            "foliage": {"texture": None, "color": ["green"] if care else None,
                        "leaf_retention": True if care else None},
            "fruit_or_seed": {"conspicuous": None, "color": None, "shape": None, "seed_persistence": None},
            "specifications": {
                "ligneous_type": None, "growth_form": None, "growth_habit": care.get("growth_habit"),
                "growth_rate": care.get("growth_rate"), "average_height": {"cm": care.get("average_height")},
                "maximum_height": {"cm": None}, "nitrogen_fixation": None, "shape_and_orientation": None,
                "toxicity": care.get("toxicity"),
            },
            "growth": {
                "description": None, "sowing": None, "days_to_harvest": None,
                "row_spacing": {"cm": None}, "spread": {"cm": None},
                "ph_maximum": ph[1], "ph_minimum": ph[0],
                "light": care.get("light"), "atmospheric_humidity": care.get("atmospheric_humidity"),
                "growth_months": None, "bloom_months": care.get("bloom_months"), "fruit_months": None,
                "minimum_precipitation": {"mm": None}, "maximum_precipitation": {"mm": None},
                "minimum_root_depth": {"cm": None},
                "minimum_temperature": temp(care.get("minimum_temperature")),
                "maximum_temperature": temp(care.get("maximum_temperature")),
                "soil_nutriments": None, "soil_salinity": None, "soil_texture": None, "soil_humidity": None,
            },
            "synonyms": [{"id": plant.number(f"syn{i}", 10**6), "name": name, "author": None}
                         for i, name in enumerate(plant.synonyms)],
            "sources": [{"id": "fake", "name": "Verdant fake data", "url": None, "citation": None,
                         "last_update": "2020-10-11T12:00:00.000Z"}],
        })
        return data

    def _openai(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes,
                mode: str) -> _Reply:
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return _openai_error(401, "You didn't provide an API key. You need to provide your API key in an "
                                      "Authorization header using Bearer auth.", "invalid_request_error", None)
        if auth.removeprefix("Bearer ") != KEYS["openai"] or mode == "401":
            return _openai_error(401, "Incorrect API key provided: sk-fa***ey. You can find your API key at "
                                      "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                                 "invalid_api_key")
        if method != "POST" or path != "/chat/completions":
            return _openai_error(404, f"Unknown request URL: {method} {path}.", "invalid_request_error",
                                 "unknown_url")
        if mode == "429":
            return _openai_error(429, "You exceeded your current quota, please check your plan and billing "
                                      "details.", "insufficient_quota", "insufficient_quota")
        if mode == "rate_limit":
            return _openai_error(429, "Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 200000, "
                                      "Used 199500, Requested 900. Please try again in 120ms.", "tokens",
                                 "rate_limit_exceeded",
                                 {"retry-after-ms": "120", "x-ratelimit-remaining-tokens": "0"})
        if mode == "500":
            return _openai_error(500, "The server had an error while processing your request. Sorry about that!",
                                 "server_error", None)
        try:
            payload = json.loads(body)
        except ValueError:
            return _openai_error(400, "We could not parse the JSON body of your request.",
                                 "invalid_request_error", None)
        if not isinstance(payload, dict) or not isinstance(payload.get("model"), str):
            return _openai_error(400, "you must provide a model parameter", "invalid_request_error", None)
        if mode == "not_found":
            return _openai_error(404, f"The model `{payload['model']}` does not exist or you do not have access "
                                      "to it.", "invalid_request_error", "model_not_found")
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and m.get("role") in ("system", "user", "assistant", "developer")
                and isinstance(m.get("content"), str) for m in messages):
            return _openai_error(400, "Invalid value for 'messages'.", "invalid_request_error", None)
        text = " ".join(m["content"] for m in messages)
        if (payload.get("response_format") or {}).get("type") == "json_object" and "json" not in text.lower():
            return _openai_error(400, "'messages' must contain the word 'json' in some form, to use "
                                      "'response_format' of type 'json_object'.", "invalid_request_error", None)
        plant = next((p for p in PLANTS if p.scientific_name.lower() in text.lower()), None)
        content = json.dumps(_care_answer(plant))
        finish = "stop"
        if mode == "length":
            content, finish = content[: len(content) // 3], "length"
        return _json(200, {
            "id": "chatcmpl-FAKE" + hashlib.sha1(body).hexdigest()[:20],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": f"{payload['model']}-fake",
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                         "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": len(text) // 4, "completion_tokens": len(content) // 4,
                      "total_tokens": (len(text) + len(content)) // 4,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}},
            "service_tier": "default",
            "system_fingerprint": "fp_fake0001",
        }, {"x-request-id": "req_fake" + hashlib.sha1(body).hexdigest()[:12], "openai-processing-ms": "12",
            "x-ratelimit-remaining-requests": "9999", "x-ratelimit-remaining-tokens": "199000"})


def _trefle_id(plant: FakePlant) -> int:
    return plant.number("trefle", 900_000) + 100_000


def _plantid_disease(language: str) -> dict[str, Any]:
    return {
        "id": "e5eed7f688efa59e",
        "name": "water excess or uneven watering",
        "probability": 0.4718,
        "similar_images": [],
        "details": {
            "local_name": "water excess or uneven watering",
            "description": "Synthetic text: roots suffer when soil stays wet for long periods.",
            "url": None,
            "treatment": {"biological": ["Let the top layer of soil dry before watering again."],
                          "prevention": ["Use a pot with drainage holes."]},
            "classification": ["Abiotic", "Water-related issues"],
            "common_names": None,
            "cause": None,
            "language": language,
            "entity_id": "e5eed7f688efa59e",
        },
    }


def _care_answer(plant: FakePlant | None) -> dict[str, Any]:
    name = plant.scientific_name if plant else "this plant"
    care = (plant.care if plant else None) or {}
    light = care.get("light")
    return {
        "overview": f"Fake care guide for {name}, written by the local fake OpenAI server.",
        "difficulty_level": "easy" if (plant and plant.watering and plant.watering[1] <= 2) else "moderate",
        "light": {"requirement": "Bright direct light" if (light or 0) >= 8 else "Bright indirect light",
                  "details": "Avoid harsh midday sun through glass.", "indoor_placement": "Near an east window"},
        "water": {"frequency": "Every 1-2 weeks", "amount": "Until it drains", "method": "Top watering",
                  "seasonal_changes": "Less in winter", "signs_of_overwatering": "Yellow, soft leaves",
                  "signs_of_underwatering": "Curling, crisp leaves"},
        "soil": {"type": "Free-draining potting mix", "ph": "6.0-7.0", "drainage": "Pot with drainage holes"},
        "temperature": {"ideal_range": "18-27 °C", "minimum": f"{care.get('minimum_temperature', 10)} °C",
                        "notes": "Keep away from cold drafts."},
        "humidity": {"level": "Average", "tips": "Group plants together in dry rooms."},
        "fertilizer": {"type": "Balanced liquid feed", "frequency": "Monthly in spring and summer",
                       "notes": "None in winter."},
        "pruning": "Remove damaged leaves at the base.",
        "propagation": ", ".join(plant.propagation_methods) if plant and plant.propagation_methods else "Cuttings",
        "common_problems": ["Root rot from overwatering", "Spider mites in dry air"],
        "toxicity": care.get("toxicity") or "Unknown; keep away from pets to be safe.",
    }


def media_origins(config: Mapping[str, Any]) -> list[str]:
    """Return the origins of the fakes a configuration points at, whose reference images are served
    over plain http from 127.0.0.1 (`flask fake-providers`): the page's CSP must allow them."""
    origins = []
    for name, prefix in PREFIXES.items():
        url = str(config.get(f"{name.upper()}_BASE_URL") or "")
        if config.get(f"{name.upper()}_API_KEY") == KEYS[name] and url.endswith(prefix):
            parts = urlsplit(url)
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(origins))


def settings_for(url: str) -> dict[str, str]:
    """Return the *_BASE_URL and *_API_KEY settings that point the real clients at fakes served at url."""
    return {f"{name.upper()}_{suffix}": value for name, prefix in PREFIXES.items()
            for suffix, value in (("API_KEY", KEYS[name]), ("BASE_URL", url + prefix))}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake providers in the foreground and print the settings to export."""
    parser = argparse.ArgumentParser(prog="python -m app.providers.fakes", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--slow-seconds", type=float, default=30.0,
                        help="how long 'slow' mode waits before answering")
    args = parser.parse_args(argv)
    done = threading.Event()
    try:
        fake = FakeProviders(args.port, args.host, slow_seconds=args.slow_seconds)
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port} ({exc.strerror or exc}): choose another port with --port.",
              file=sys.stderr)
        return 1
    with fake:
        for key, value in fake.settings.items():
            print(f"export {key}={value}")
        print(f"# control: curl -X POST {fake.url}/_control -d "
              "'{\"provider\": \"plantid\", \"mode\": \"500\"}'", flush=True)
        try:
            signal.signal(signal.SIGTERM, lambda *_: done.set())
        except ValueError:
            pass  # not the main thread: Ctrl-C still works
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
