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
