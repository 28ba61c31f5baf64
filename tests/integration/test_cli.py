"""flask seed and flask create-admin."""
from app.accounts.models import User
from app.extensions import db


def test_seed_creates_demo_content_once(app, app_ctx):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed"])
    assert first.exit_code == 0, first.output
    count = db.session.query(User).count()
    assert count >= 4
    second = runner.invoke(args=["seed"])
    assert second.exit_code == 0
    assert db.session.query(User).count() == count


def test_create_admin_creates_account(app, app_ctx):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "Boss@Example.com", "--password", "a-strong-admin-pass-9"])
    assert result.exit_code == 0, result.output
    assert "Created admin boss@example.com" in result.output
    assert db.session.query(User).filter_by(email="boss@example.com").one().role == "admin"


def test_create_admin_promotes_existing_member(app, users):
    result = app.test_cli_runner().invoke(args=["create-admin", "bob@example.com"])
    assert result.exit_code == 0
    assert "Promoted" in result.output
    db.session.expire_all()
    assert db.session.get(User, users["bob"].id).role == "admin"


def test_create_admin_refuses_weak_password(app, app_ctx):
    result = app.test_cli_runner().invoke(args=["create-admin", "x@example.com", "--password", "short"])
    assert result.exit_code != 0
    assert "at least 12 characters" in result.output
    assert db.session.query(User).count() == 0
