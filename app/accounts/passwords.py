"""Password hashing (argon2id) and the strength check."""
import re
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core import messages

MIN_LENGTH = 12
MAX_LENGTH = 128
_hasher = PasswordHasher()
# A real hash to verify against when the account does not exist, so timing reveals nothing.
_DUMMY_HASH = _hasher.hash("verdant-timing-equaliser")


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against its hash, spending the same effort when there is none."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
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
    rows = ("abcdefghijklmnopqrstuvwxyz", "01234567890", "qwertyuiopasdfghjklzxcvbnm")
    return any(text in row * 2 or text in (row * 2)[::-1] for row in rows)
