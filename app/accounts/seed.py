"""Demo accounts for the embedded default, so a new site has people in it."""
from flask import Flask

from app.accounts import service
from app.core.registry import register_seeder

DEMO_USERS = (
    ("alice@example.com", "Alice Greenleaf", "member"),
    ("bob@example.com", "Bob Fernsby", "member"),
    ("editor@example.com", "Erin Editor", "editor"),
    ("moderator@example.com", "Max Moderator", "moderator"),
)
# Known to anyone who reads this file: demo content for a local site, never production.
DEMO_PASSWORD = "demo-garden-path-2026"


def seed_demo_users() -> str:
    """Create the demo accounts that do not exist yet."""
    created = 0
    for email, name, role in DEMO_USERS:
        if service.find_by_email(email) is None:
            service.register_user(email, name, DEMO_PASSWORD, role=role)
            created += 1
    return f"{created} demo accounts created (password: {DEMO_PASSWORD})"


def register(app: Flask) -> None:
    """Offer the demo accounts to `flask seed`."""
    register_seeder(app, "accounts", seed_demo_users)
