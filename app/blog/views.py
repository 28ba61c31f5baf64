"""Blog pages: reading, feeds, sitemap and robots.txt, and the editors' pages under /blog/manage."""
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template,
                   request, url_for)
from flask_login import current_user
from markupsafe import Markup

from app.blog import service
from app.blog.forms import ImageForm, PostForm, ScheduleForm
from app.blog.models import STATUSES, Post
from app.blog.service import BlogError, PostData
from app.core import messages
from app.core.models import utcnow
from app.core.pagecache import MARKS, fill_marks, page_cacheable
from app.core.security import roles_required
from app.core.storage import StorageError, get_storage
from app.extensions import limiter
from app.htmx import wants_fragment

bp = Blueprint("blog", __name__)
editor_required = roles_required("editor")

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"


def _page_arg() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        return 1


def _cacheable(key: str, render: Callable[..., str]) -> str:
    if not page_cacheable():
        return render()
    return fill_marks(service.cached(key, lambda: render(**MARKS)))


def _list_page(key: str, template: str, query: Callable[[], dict], **context) -> str:
    fragment = wants_fragment()

    def render(**overrides) -> str:
        return render_template("blog/_post_list.html" if fragment else template,
                               **query(), **context, **overrides)

    return _cacheable(f"{key}:{int(fragment)}", render)


@bp.get("/blog")
def index():
    page = _page_arg()
    return _list_page(f"index:{page}", "blog/index.html",
                      lambda: {"posts": service.list_posts(page),
                               "featured": service.featured_posts() if page == 1 else []},
                      heading="Blog", list_endpoint="blog.index", list_args={})


@bp.get("/blog/category/<slug>")
def category(slug):
    found = service.get_category(slug) or abort(404)
    page = _page_arg()
    return _list_page(f"category:{slug}:{page}", "blog/index.html",
                      lambda: {"posts": service.list_posts(page, category=found), "featured": []},
                      category=found, heading=found.name, intro=found.description,
                      list_endpoint="blog.category", list_args={"slug": slug})


@bp.get("/blog/tag/<slug>")
def tag(slug):
    found = service.get_tag(slug) or abort(404)
    page = _page_arg()
    return _list_page(f"tag:{slug}:{page}", "blog/index.html",
                      lambda: {"posts": service.list_posts(page, tag=found), "featured": []},
                      heading=f"Tagged “{found.name}”", list_endpoint="blog.tag",
                      list_args={"slug": slug})


@bp.get("/blog/author/<uuid:user_id>")
def author(user_id):
    found = service.get_author(user_id) or abort(404)
    page = _page_arg()
    return _list_page(f"author:{user_id}:{page}", "blog/index.html",
                      lambda: {"posts": service.list_posts(page, author=found), "featured": []},
                      heading=f"Posts by {found.display_name}", list_endpoint="blog.author",
                      list_args={"user_id": user_id})


@bp.get("/blog/series/<slug>")
def series(slug):
    found = service.get_series(slug) or abort(404)
    return _cacheable(f"series:{slug}", lambda **marks: render_template(
        "blog/series.html", series=found, posts=service.series_posts(found), **marks))


def _article_parts(post: Post, preview: bool = False) -> dict:
    previous, following = service.series_neighbours(post)
    context = {"post": post, "previous": previous, "following": following,
               "related": service.related_posts(post), "preview": preview,
               "cover_url": service.image_url(post.cover) if post.cover else None}
    social = post.social_image or post.cover
    return {
        "title": post.title,
        "description": post.seo_description or post.summary,
        "head": render_template("blog/_post_head.html", **context,
                                social_url=service.image_url(social, external=True)
                                if social else None),
        "article": render_template("blog/_article.html", **context),
    }


def _post_page(parts: dict, post_id: uuid.UUID | None, **overrides) -> str:
    return render_template("blog/post.html", title=parts["title"],
                           description=parts["description"], head=Markup(parts["head"]),
                           article=Markup(parts["article"]), post_id=post_id, **overrides)


@bp.get("/blog/<slug>")
def post(slug):
    def render(**overrides) -> dict:
        found = service.get_published_post(slug)
        if found is None:
            return {"redirect": service.current_slug_for(slug)}
        return {"html": _post_page(_article_parts(found), found.id, **overrides)}

    cacheable = page_cacheable()
    outcome = service.cached(f"post:{slug}", lambda: render(**MARKS)) if cacheable else render()
    if "html" not in outcome:
        if outcome.get("redirect"):
            return redirect(url_for("blog.post", slug=outcome["redirect"]), 301)
        abort(404)
    return fill_marks(outcome["html"]) if cacheable else outcome["html"]


@bp.get("/blog/images/<uuid:image_id>")
def image(image_id):
    found = service.get_image(image_id)
    if found is None or not (found.post.is_published or _is_editor()):
        abort(404)
    try:
        data = get_storage().open(found.key)
    except FileNotFoundError:
        abort(404)
    except StorageError:
        abort(503)
    response = Response(data, mimetype=found.content_type)
    response.headers["Cache-Control"] = ("public, max-age=86400" if found.post.is_published
                                         else "private, no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _is_editor() -> bool:
    return current_user.is_authenticated and current_user.has_role("editor")


def _feed(kind: str, category_slug: str | None = None):
    found = None
    if category_slug is not None:
        found = service.get_category(category_slug) or abort(404)

    def build() -> str:
        posts = service.feed_posts(found)
        return render_template(f"blog/{kind}.xml", posts=posts, category=found,
                               updated=max((p.updated_at for p in posts), default=None),
                               absolute=_absolute_html)

    body = service.cached(f"feed:{kind}:{category_slug or ''}", build)
    return Response(body, content_type=RSS_TYPE if kind == "rss" else ATOM_TYPE)


def _absolute_html(html: str, page_url: str) -> str:
    # Feed readers resolve relative links against nothing useful, so make ours absolute.
    root = request.host_url.rstrip("/")
    return (html.replace('href="/', f'href="{root}/').replace('src="/', f'src="{root}/')
            .replace('href="#', f'href="{page_url}#'))


@bp.get("/blog/rss.xml")
def rss():
    return _feed("rss")


@bp.get("/blog/atom.xml")
def atom():
    return _feed("atom")


@bp.get("/blog/category/<slug>/rss.xml")
def category_rss(slug):
    return _feed("rss", slug)


@bp.get("/blog/category/<slug>/atom.xml")
def category_atom(slug):
    return _feed("atom", slug)


@bp.get("/sitemap.xml")
def sitemap():
    def build() -> str:
        entries = service.sitemap_entries()
        for provide in current_app.extensions.get("sitemap_sources", []):
            entries.extend(provide())
        return render_template("blog/sitemap.xml", entries=entries)

    return Response(service.cached("sitemap", build), content_type=XML_TYPE)


@bp.get("/robots.txt")
def robots():
    body = render_template("blog/robots.txt", sitemap=url_for("blog.sitemap", _external=True))
    return Response(body, content_type="text/plain; charset=utf-8")


def _post_form(post: Post | None = None) -> PostForm:
    form = PostForm()
    form.categories.choices = [(str(c.id), c.name) for c in service.all_categories()]
    form.series.choices = [("", "—")] + [(str(s.id), s.title) for s in service.all_series()]
    if request.method == "GET" and post is not None:
        data = PostData.from_post(post)
        form.title.data, form.slug.data, form.summary.data = data.title, data.slug, data.summary
        form.body.data, form.tags.data, form.species.data = data.body, data.tags, data.species
        form.categories.data = [str(i) for i in data.category_ids]
        form.series.data = str(data.series_id) if data.series_id else ""
        form.series_order.data = data.series_order
        form.difficulty.data = data.difficulty or ""
        form.featured.data = data.featured
        form.seo_description.data = data.seo_description
    return form


def _form_data(form: PostForm) -> PostData:
    def as_uuid(value: str) -> uuid.UUID | None:
        try:
            return uuid.UUID(value)
        except (TypeError, ValueError):
            return None

    return PostData(
        title=form.title.data or "", slug=form.slug.data or "", summary=form.summary.data or "",
        body=form.body.data or "", tags=form.tags.data or "", species=form.species.data or "",
        category_ids=[i for i in map(as_uuid, form.categories.data or []) if i],
        series_id=as_uuid(form.series.data), series_order=form.series_order.data,
        difficulty=form.difficulty.data or None, featured=bool(form.featured.data),
        seo_description=form.seo_description.data or "")


def _editor_page(form: PostForm, post: Post | None, status: int = 200, preview_html: str = ""):
    return render_template("blog/edit.html", form=form, post=post,
                           schedule_form=ScheduleForm(), image_form=ImageForm(),
                           preview_html=Markup(preview_html)), status


def _save_images(form: PostForm, post: Post) -> None:
    for field, kind in ((form.cover, "cover"), (form.social_image, "social")):
        upload = field.data
        if upload and getattr(upload, "filename", ""):
            service.add_image(post, upload.stream, kind)


def _submit(form: PostForm, post: Post | None):
    if request.form.get("action") == "preview":
        body = form.body.data or ""
        try:
            service.check_body_size(body)
        except BlogError as exc:
            form.body.errors = [exc.message]
            return _editor_page(form, post, exc.status)
        return _editor_page(form, post, 200,
                            service.render_preview(body, post.id if post else None))
    if not form.validate_on_submit():
        return _editor_page(form, post, 422)
    try:
        post = service.save_post(post, _form_data(form), current_user)
    except BlogError as exc:
        getattr(form, exc.field).errors = [*getattr(form, exc.field).errors, exc.message]
        return _editor_page(form, post, exc.status)
    try:
        _save_images(form, post)
    except BlogError as exc:
        form.cover.errors = [exc.message]
        flash("The post was saved, but not its image.", "warning")
        return _editor_page(form, post, exc.status)
    flash("Saved.", "success")
    return redirect(url_for("blog.edit", post_id=post.id), 303)


def _editor_post(post_id: uuid.UUID) -> Post:
    return service.get_post(post_id) or abort(404)


@bp.get("/blog/manage")
@editor_required
def manage():
    status = request.args.get("status")
    status = status if status in STATUSES else None
    return render_template("blog/manage.html", posts=service.editor_posts(status), status=status,
                           statuses=STATUSES)


@bp.route("/blog/manage/new", methods=["GET", "POST"])
@editor_required
def new():
    form = _post_form()
    if request.method == "POST":
        return _submit(form, None)
    return _editor_page(form, None)


@bp.route("/blog/manage/posts/<uuid:post_id>", methods=["GET", "POST"])
@editor_required
def edit(post_id):
    post = _editor_post(post_id)
    form = _post_form(post)
    if request.method == "POST":
        return _submit(form, post)
    return _editor_page(form, post, 200, post.body_html)


@bp.post("/blog/manage/preview")
@limiter.limit("600 per minute")  # a debounced preview while typing outpaces the default
@editor_required
def preview():
    body = request.form.get("body", "")
    try:
        post_id = uuid.UUID(request.args.get("post_id", ""))
    except ValueError:
        post_id = None
    try:
        service.check_body_size(body)
    except BlogError as exc:
        return render_template("errors/_error.html", status=exc.status, message=exc.message), \
            exc.status
    return render_template("blog/_preview.html",
                           html=Markup(service.render_preview(body, post_id)))


@bp.get("/blog/manage/posts/<uuid:post_id>/preview")
@editor_required
def draft_preview(post_id):
    post = _editor_post(post_id)
    return _post_page(_article_parts(post, preview=True), post.id)


@bp.post("/blog/manage/posts/<uuid:post_id>/publish")
@editor_required
def publish(post_id):
    service.publish_post(_editor_post(post_id))
    flash("Published.", "success")
    return redirect(url_for("blog.edit", post_id=post_id), 303)


@bp.post("/blog/manage/posts/<uuid:post_id>/schedule")
@editor_required
def schedule(post_id):
    post = _editor_post(post_id)
    form = ScheduleForm()
    if not form.validate_on_submit() or form.publish_at.data is None:
        page_form = _post_form(post)
        flash(messages.BLOG_SCHEDULE_MISSING, "error")
        return _editor_page(page_form, post, 422, post.body_html)
    post = service.schedule_post(post, form.publish_at.data.replace(tzinfo=timezone.utc))
    if post.status == "published":
        flash("That time has passed, so the post is published now.", "success")
    else:
        flash(f"Scheduled for {post.scheduled_at:%-d %B %Y, %H:%M} UTC.", "success")
    return redirect(url_for("blog.edit", post_id=post_id), 303)


@bp.post("/blog/manage/posts/<uuid:post_id>/unpublish")
@editor_required
def unpublish(post_id):
    to = "archived" if request.form.get("to") == "archived" else "draft"
    service.unpublish_post(_editor_post(post_id), to)
    flash("Archived." if to == "archived" else "Back to draft.", "success")
    return redirect(url_for("blog.edit", post_id=post_id), 303)


@bp.post("/blog/manage/posts/<uuid:post_id>/delete")
@editor_required
def delete(post_id):
    service.delete_post(_editor_post(post_id))
    flash("Post deleted.", "success")
    return redirect(url_for("blog.manage"), 303)


@bp.get("/blog/manage/posts/<uuid:post_id>/revisions")
@editor_required
def revisions(post_id):
    post = _editor_post(post_id)
    numbers = [r.number for r in post.revisions]
    diff, old, new_ = None, None, None
    try:
        a = int(request.args.get("a", numbers[1] if len(numbers) > 1 else 0))
        b = int(request.args.get("b", numbers[0] if numbers else 0))
    except ValueError:
        abort(400)
    if a and b:
        old, new_ = service.get_revision(post, a), service.get_revision(post, b)
        if old is None or new_ is None:
            abort(404)
        diff = service.diff_revisions(old, new_)
    template = "blog/_diff.html" if wants_fragment() else "blog/revisions.html"
    return render_template(template, post=post, diff=diff, old=old, new=new_)


@bp.post("/blog/manage/posts/<uuid:post_id>/restore")
@editor_required
def restore(post_id):
    post = _editor_post(post_id)
    try:
        number = int(request.form.get("number", ""))
    except ValueError:
        abort(400)
    revision = service.get_revision(post, number) or abort(404)
    service.restore_revision(post, revision, current_user)
    flash(f"Restored revision {number}.", "success")
    return redirect(url_for("blog.edit", post_id=post_id), 303)


@bp.post("/blog/manage/posts/<uuid:post_id>/images")
@editor_required
def upload_image(post_id):
    post = _editor_post(post_id)
    form = ImageForm()
    upload = form.image.data if form.validate_on_submit() else None
    status, error, added = 201, None, None
    if not upload or not getattr(upload, "filename", ""):
        status, error = 422, messages.BLOG_IMAGE_MISSING
    else:
        try:
            added = service.add_image(post, upload.stream, "body")
        except BlogError as exc:
            status, error = exc.status, exc.message
    if wants_fragment():
        return render_template("blog/_images.html", post=post, error=error, added=added), status
    if error:
        flash(error, "error")
    else:
        flash(f"Image uploaded. Paste this into the body: ![Describe the image]"
              f"({service.image_url(added)})", "success")
    return redirect(url_for("blog.edit", post_id=post_id), 303)


UPLOAD_ENDPOINTS = frozenset({"blog.new", "blog.edit", "blog.upload_image"})


def _allow_image_uploads() -> None:
    # Runs before CSRFProtect parses the form, which would refuse a photo at the default limit.
    if request.endpoint in UPLOAD_ENDPOINTS and request.method == "POST":
        request.max_content_length = current_app.config["UPLOAD_MAX_BYTES"] + 1024 * 1024


def _resolve_post(post_id: uuid.UUID):
    found = service.get_post(post_id)
    if found is None or not (found.is_published or _is_editor()):
        return None
    return found.title, url_for("blog.post", slug=found.slug)


def _latest_posts() -> dict:
    return {"posts": service.cached("home", lambda: [
        {"title": p.title, "slug": p.slug, "reading_minutes": p.reading_minutes}
        for p in service.recent_posts(3)])}


def init_blog(app) -> None:
    """Offer the blog to the navigation, home page, search, forum, seeders and upload limits."""
    from app.blog.seed import seed_bench_posts, seed_demo_posts
    from app.core.registry import (register_bench_seeder, register_discussable,
                                   register_home_section, register_nav_link, register_seeder)
    from app.blog import search_index
    from app.search.base import SearchSource, register_search_index, register_search_source

    register_nav_link(app, "blog.index", "Blog")
    register_home_section(app, "blog/_home_section.html", _latest_posts)
    register_search_source(app, SearchSource(kind="post", label="Blog posts",
                                             search=service.search_posts, order=20, models=(Post,)))
    register_search_index(app, search_index.INDEX_NAMES)
    search_index.listen()
    register_discussable(app, "post", _resolve_post)
    register_seeder(app, "blog", seed_demo_posts)
    register_bench_seeder(app, "blog", seed_bench_posts)
    app.before_request_funcs.setdefault(None, []).insert(0, _allow_image_uploads)
    app.jinja_env.globals.update(blog_image_url=service.image_url,
                                 species_page_url=service.species_url, now_utc=utcnow)
    app.jinja_env.filters.update(blog_date=_date, blog_datetime=_datetime, rfc822=_rfc822,
                                 iso8601=_iso8601)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every one we store is UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else \
        value.astimezone(timezone.utc)


def _date(value: datetime | None) -> str:
    return f"{_utc(value):%-d %B %Y}" if value else ""


def _datetime(value: datetime | None) -> str:
    return f"{_utc(value):%-d %B %Y, %H:%M} UTC" if value else ""


def _rfc822(value: datetime) -> str:
    return format_datetime(_utc(value))


def _iso8601(value: datetime) -> str:
    return _utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")
