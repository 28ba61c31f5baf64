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


def make_species(scientific_name: str | None = None, *, common_names=(), **over):
    """Create and return a species; common_names are (name, lang) pairs or plain English names."""
    from app.extensions import db
    from app.species.models import Species, SpeciesCommonName
    from app.species.names import normalise_scientific_name, slugify_name

    name = normalise_scientific_name(scientific_name or f"Testus specimen{next(_seq)}")
    species = Species(scientific_name=name, slug=over.pop("slug", slugify_name(name)),
                      genus=over.pop("genus", name.split(" ")[0]), **over)
    species.common_names = [
        SpeciesCommonName(name=n, lang="en", position=i) if isinstance(n, str)
        else SpeciesCommonName(name=n[0], lang=n[1], position=i)
        for i, n in enumerate(common_names)]
    db.session.add(species)
    db.session.commit()
    return species


def count_identifications(species_id, times: int = 1) -> None:
    """Count identifications of a species today, as the periodic count does: commit, then flush species pages."""
    from app.core import fragments
    from app.core.models import utcnow
    from app.extensions import db
    from app.species.service import add_identification_counts

    add_identification_counts({(species_id, utcnow().date()): times})
    db.session.commit()
    fragments.invalidate("species")


def make_post(author=None, *, title=None, body="Some **words** about plants.", status="published",
              **fields):
    """Create a blog post through the editor's service (published unless told otherwise)."""
    from flask import current_app

    from app.blog import service as blog

    n = next(_seq)
    author = author or make_user(role="editor")
    data = blog.PostData(title=title or f"Post {n}", body=body, **fields)
    # Rendering builds URLs (species cards, images), which needs a request context.
    with current_app.test_request_context("/"):
        post = blog.save_post(None, data, author)
        if status == "published":
            blog.publish_post(post)
        elif status == "archived":
            blog.unpublish_post(post, "archived")
    return post


def is_postgres() -> bool:
    """Tell whether the tests run on PostgreSQL (TEST_DATABASE_URL) rather than SQLite."""
    from app.extensions import db
    return db.engine.dialect.name == "postgresql"
