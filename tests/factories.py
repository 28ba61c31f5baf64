"""Plain factory functions with overridable defaults."""
import itertools

from app.accounts import service as accounts

PASSWORD = "correct-horse-garden-42"
_seq = itertools.count(1)


def make_user(**over):
    """Create and return a user; any field may be overridden."""
    n = next(_seq)
    email = over.pop("email", f"gardener{n}@example.com")
    name = over.pop("display_name", f"Gardener {n}")
    password = over.pop("password", PASSWORD)
    role = over.pop("role", "member")
    user = accounts.register_user(email, name, password, role=role)
    for key, value in over.items():
        setattr(user, key, value)
    if over:
        from app.extensions import db
        db.session.commit()
    return user
