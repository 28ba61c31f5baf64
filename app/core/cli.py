"""Command-line tasks: seed demo content, create an admin, run fake providers."""
import sys

import click
from flask import Flask, current_app


def init_cli(app: Flask) -> None:
    """Add Verdant's commands to `flask`."""

    @app.cli.command("seed")
    def seed():
        """Load demo content (safe to run again: existing rows are kept)."""
        for name, run in current_app.extensions.get("seeders", []):
            click.echo(f"{name}: {run()}")

    @app.cli.command("bench-seed")
    def bench_seed():
        """Load the extra data the benchmarks in bench/ measure (slow; never on production)."""
        for name, run in current_app.extensions.get("bench_seeders", []):
            click.echo(f"{name}: {run()}")

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--password", envvar="VERDANT_ADMIN_PASSWORD",
                  help="Password for a new account (or set VERDANT_ADMIN_PASSWORD).")
    def create_admin(email, password):
        """Create an admin account, or promote an existing one."""
        from app.accounts.service import AccountError, create_or_promote_admin, find_by_email

        if not find_by_email(email) and not password and sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user, created = create_or_promote_admin(email, password)
        except AccountError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"{'Created' if created else 'Promoted'} admin {user.email}")

    @app.cli.command("worker")
    def worker():
        """Run an RQ worker (and scheduler) on the fast and slow queues."""
        from app.core.worker import make_worker
        make_worker(current_app._get_current_object()).work(with_scheduler=True)

