"""Small registrations through which domains offer parts to the home page and the seed command."""
from collections.abc import Callable

from flask import Flask


def register_home_section(app: Flask, template: str, provide: Callable[[], dict]) -> None:
    """Show `template` on the home page, rendered with what `provide()` returns."""
    app.extensions.setdefault("home_sections", []).append((template, provide))


def register_seeder(app: Flask, name: str, seed: Callable[[], str]) -> None:
    """Let `flask seed` call `seed()`, which returns a line saying what it added."""
    app.extensions.setdefault("seeders", []).append((name, seed))


def register_nav_link(app: Flask, endpoint: str, label: str) -> None:
    """Put a link to `endpoint` in the main navigation."""
    app.extensions.setdefault("nav_links", []).append((endpoint, label))


def init_template_globals(app: Flask) -> None:
    """Give templates the registered navigation and an endpoint check."""
    app.jinja_env.globals["nav_links"] = lambda: app.extensions.get("nav_links", [])
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions
    app.jinja_env.filters["given"] = given_attributes


def given_attributes(attributes: dict) -> dict:
    """Keep the HTML attributes that have a value: WTForms writes None literally (a password input's
    type=None rendered type="None", and the browser showed the password as it was typed)."""
    return {name: value for name, value in attributes.items() if value is not None}


def register_discussable(app: Flask, subject_type: str, resolve: Callable) -> None:
    """Let forum threads hang under objects of `subject_type`.

    `resolve(subject_id: uuid.UUID)` returns `(title, url)` of a subject the current user may
    see, or None when it does not exist or is hidden from them.
    """
    app.extensions.setdefault("discussables", {})[subject_type] = resolve


def register_bench_seeder(app: Flask, name: str, seed: Callable[[], str]) -> None:
    """Let `flask bench-seed` load the data a benchmark measures (bench/ calls it)."""
    app.extensions.setdefault("bench_seeders", []).append((name, seed))


def register_sitemap_source(app: Flask, provide: Callable) -> None:
    """Add pages to /sitemap.xml: `provide()` returns (absolute URL, last change or None) pairs."""
    app.extensions.setdefault("sitemap_sources", []).append(provide)


def register_periodic_job(app: Flask, name: str, run: Callable[[], object], seconds: int, *,
                          queue: str = "slow") -> None:
    """Have the workers run `run` every `seconds` seconds (on the slow queue unless told, one chain per Redis)."""
    app.extensions.setdefault("periodic_jobs", {})[name] = (run, seconds, queue)


def register_metrics_collector(app: Flask, collector: object) -> None:
    """Have /metrics report a prometheus_client collector's figures (read when scraped, e.g. from Redis)."""
    app.extensions.setdefault("metrics_collectors", []).append(collector)


def register_sign_in_handoff(app: Flask, hand_over: Callable[[object, dict], object]) -> None:
    """Let a domain keep what a visitor did before signing in.

    `hand_over(user, previous_session)` runs right after a sign-in or registration, with a copy of
    the anonymous session that sign-in replaced (its keys are gone from the new session).
    """
    app.extensions.setdefault("sign_in_handoffs", []).append(hand_over)
