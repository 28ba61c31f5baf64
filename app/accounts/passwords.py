"""Password hashing (argon2id) and the strength check."""
import re
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from app.core import messages
from app.core.offload import run_in_os_thread

MIN_LENGTH = 12
MAX_LENGTH = 128


def _hasher() -> PasswordHasher:
    # Cost comes from config so the test suite can hash quickly; production keeps argon2's defaults.
    return PasswordHasher(time_cost=current_app.config["ARGON2_TIME_COST"],
                          memory_cost=current_app.config["ARGON2_MEMORY_COST"])


# Hashing and verifying take ~0.1 s of C work each (argon2's default cost): in an OS thread, so that a
# gevent worker goes on serving its other requests and sockets meanwhile (app/core/offload.py).

@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost: int) -> str:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)
    return run_in_os_thread(hasher.hash, "timing-equaliser")


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return run_in_os_thread(_hasher().hash, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against its hash, spending the same effort when there is none."""
    hasher = _hasher()
    # Verifying against a real hash when the account does not exist keeps timing the same.
    target = password_hash or _dummy_hash(hasher.time_cost, hasher.memory_cost)
    try:
        return run_in_os_thread(hasher.verify, target, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    text = resources.files("app.accounts").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def password_problem(password: str, *, email: str = "", display_name: str = "") -> str | None:
    """Return why a password is too weak, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return messages.PW_TOO_SHORT
    if len(password) > MAX_LENGTH:
        return messages.PW_TOO_LONG
    lowered = password.lower()
    squashed = _normalise(password)
    # Common passwords padded with digits or repeated ("password1234", "qwertyqwerty") are still common.
    stem = re.sub(r"\d+$", "", squashed)
    if (lowered in _common_passwords() or squashed in _common_passwords()
            or stem in _common_passwords() or len(set(squashed)) <= 3
            or _is_sequence(squashed)):
        return messages.PW_COMMON
    for personal in (email.split("@")[0], display_name):
        person = _normalise(personal)
        if len(person) >= 4 and (person in squashed or squashed in person):
            return messages.PW_SIMILAR
    return None


def _is_sequence(text: str) -> bool:
    rows = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiopasdfghjklzxcvbnm")
    return any(text in row * 2 or text in (row * 2)[::-1] for row in rows)
