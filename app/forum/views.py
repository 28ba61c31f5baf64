"""Forum pages and fragments: categories, threads, replies, embeds, reactions, moderation."""
import json
import re
import uuid

from flask import (Blueprint, Flask, Response, abort, flash, redirect, render_template, request,
                   url_for)
from flask_login import current_user, login_required
from markupsafe import Markup

from app.core import messages
from app.core.errors import error_response
from app.core.fragments import cached_fragment
from app.core.images import ImageRejected
from app.core.registry import (register_bench_seeder, register_home_section, register_nav_link,
                               register_seeder, register_sitemap_source)
from app.core.security import roles_required
from app.core.storage import StorageError, get_storage
from app.extensions import db, limiter
from app.forum import service
from app.forum.forms import EditForm, ModerationForm, ReplyForm, ReportForm, ThreadForm
from app.forum.models import REACTIONS, PostImage
from app.htmx import wants_fragment

bp = Blueprint("forum", __name__, url_prefix="/forum")
_TYPING_MENTION = re.compile(r"(?:^|\s)@([A-Za-z0-9_.-]{1,30})$")


def _user_key() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else f"ip:{request.remote_addr}"


def _limit(normal: str, new: str):
    """Per-user limit, tighter for new accounts."""
    def value() -> str:
        if current_user.is_authenticated and service.is_new_account(current_user):
            return new
        return normal
    return limiter.limit(value, key_func=_user_key, methods=["POST"])


@bp.errorhandler(service.ForumError)
def forum_error(exc: service.ForumError):
    return error_response(exc.status, exc.message)


@bp.errorhandler(ImageRejected)
def image_rejected(exc: ImageRejected):
    return error_response(exc.status, exc.message)


@bp.errorhandler(StorageError)
def storage_down(exc: StorageError):
    return error_response(503, messages.STORAGE_DOWN, {"Retry-After": "60"})


def _page_arg(name: str = "page") -> int:
    try:
        return max(1, int(request.args.get(name, 1)))
    except ValueError:
        return 1


def _int_arg(name: str) -> int | None:
    try:
        return int(request.args[name])
    except (KeyError, ValueError):
        return None


@bp.get("/")
def index():
    return render_template("forum/index.html", categories=service.list_categories(current_user),
                           threads=service.recent_threads(current_user, limit=20))


@bp.get("/categories/<uuid:category_id>")
def category(category_id):
    cat = service.get_category(category_id, current_user)
    return render_template("forum/category.html", category=cat,
                           threads=service.recent_threads(current_user, limit=50, category=cat))


@bp.route("/categories/<uuid:category_id>/new", methods=["GET", "POST"])
@login_required
@_limit("10 per hour", "3 per hour")
def new_thread(category_id):
    cat = service.get_category(category_id, current_user)
    form = ThreadForm()
    if not form.nonce.data:
        form.nonce.data = uuid.uuid4().hex
    if form.validate_on_submit():
        thread = service.create_thread(cat, current_user, form.title.data, form.body.data,
                                       tags=form.tags.data or "", nonce=form.nonce.data,
                                       images=request.files.getlist("images"))
        return redirect(url_for("forum.thread", thread_id=thread.id), 303)
    return render_template("forum/new_thread.html", form=form, category=cat), (
        422 if form.errors else 200)


def _reply_form(quote=None) -> ReplyForm:
    form = ReplyForm(formdata=None)
    form.nonce.data = uuid.uuid4().hex
    if quote is not None:
        form.quote.data = str(quote.id)
        quoted = "\n".join(f"> {line}" for line in quote.body.splitlines()[:12])
        form.body.data = f"> @{service.mention_handle(quote.author)} wrote:\n{quoted}\n\n"
    return form


def _context(thread, *, subject=None, subject_type=None, subject_id=None, embedded=False,
             page=1, quote=None):
    """Everything _thread.html needs, for a full thread, an embed, or a subject's page."""
    if thread is not None and not embedded and subject_type is None:
        views, pages = service.thread_page(thread, current_user, page)
    else:
        views, pages = service.latest_posts(thread, current_user,
                                            limit=service.EMBED_PAGE if embedded else service.PER_PAGE), 1
    if subject_type:
        dom_id = f"subject-{subject_type}-{subject_id}"
        reply_url = url_for("forum.subject_reply", subject_type=subject_type, subject_id=subject_id)
        poll_url = url_for("forum.subject_poll", subject_type=subject_type, subject_id=subject_id)
        full_url = url_for("forum.subject_thread", subject_type=subject_type, subject_id=subject_id)
    else:
        dom_id = f"thread-{thread.id}"
        reply_url = url_for("forum.reply", thread_id=thread.id)
        poll_url = url_for("forum.poll", thread_id=thread.id)
        full_url = url_for("forum.thread", thread_id=thread.id)
    last = thread.last_number if thread else 0
    oldest = views[0].post.number if views else None
    return dict(thread=thread, posts=views, pages=pages, page=page, embedded=embedded,
                subject=subject, subject_type=subject_type, subject_id=subject_id, dom_id=dom_id,
                reply_url=reply_url, poll_url=poll_url, full_url=full_url, last_number=last,
                oldest=oldest, reply_count=thread.reply_count if thread else 0,
                form=_reply_form(quote), reactions=REACTIONS,
                is_moderator=service.is_moderator(current_user))


@bp.get("/threads/<uuid:thread_id>")
def thread(thread_id):
    if not current_user.is_authenticated:
        return _anonymous_thread(thread_id)
    t = service.get_thread(thread_id, current_user)
    if t.subject_type:
        return _to_subject(t)
    page = min(_page_arg(), service.page_count(t))
    moderator = service.is_moderator(current_user)
    mod_form = None
    if moderator:
        mod_form = ModerationForm(formdata=None)
        mod_form.category.choices = [(str(c.id), c.name)
                                     for c in service.list_categories(current_user)]
    return render_template("forum/thread.html", views=service.count_view(t.id), mod_form=mod_form,
                           subscription=service.subscription_state(t, current_user),
                           **_context(t, page=page, quote=_quote_arg(t)))


def _thread_url(t) -> str:
    """Where a thread is read: its own page, or its subject's discussion page."""
    if t.subject_type:
        return url_for("forum.subject_thread", subject_type=t.subject_type, subject_id=t.subject_id)
    return url_for("forum.thread", thread_id=t.id)


def _to_subject(t):
    return redirect(url_for("forum.subject_thread", subject_type=t.subject_type,
                            subject_id=t.subject_id))


class _Redirect(Exception):
    pass


def _anonymous_thread(thread_id):
    # Signed-out readers all see the same page, so it comes from Redis without a query.
    requested = _page_arg()

    def render() -> str:
        t = service.get_thread(thread_id, current_user)
        if t.subject_type:
            raise _Redirect(t)
        page = min(requested, service.page_count(t))
        html = render_template("forum/_thread_page.html", mod_form=None, subscription=None,
                               **_context(t, page=page))
        return json.dumps({"title": t.title, "html": html})

    try:
        cached = json.loads(cached_fragment(f"thread:{thread_id}", f"page:{requested}",
                                                    render))
    except _Redirect as exc:
        return _to_subject(exc.args[0])
    return render_template("forum/thread.html", cached=Markup(cached["html"]),
                           title=cached["title"], views=service.count_view(thread_id))


def _quote_arg(t):
    raw = request.args.get("quote")
    if not raw or not current_user.is_authenticated:
        return None
    try:
        post = service.get_post(uuid.UUID(raw), current_user)
    except ValueError:
        return None
    return post if post.thread_id == t.id and not post.deleted and not post.hidden else None


def _reply_response(t, post, *, after, dom_id, poll_url, reply_url, full_url, fallback):
    """htmx: the posts the reader has not seen plus a fresh form; otherwise back to the thread."""
    if not wants_fragment():
        return redirect(fallback, 303)
    views = service.posts_after(t, current_user, after if after is not None else post.number - 1)
    return render_template("forum/_reply_result.html", posts=views, thread=t, dom_id=dom_id,
                           poll_url=poll_url, reply_url=reply_url, full_url=full_url,
                           last_number=t.last_number, reply_count=t.reply_count,
                           form=_reply_form(), reactions=REACTIONS, embedded=True,
                           is_moderator=service.is_moderator(current_user)), 201


def _reply_args(form):
    quote = None
    if form.quote.data:
        try:
            quote = uuid.UUID(form.quote.data)
        except ValueError:
            abort(404)
    return quote


@bp.post("/threads/<uuid:thread_id>/posts")
@login_required
@_limit("30 per hour", "10 per hour")
def reply(thread_id):
    t = service.get_thread(thread_id, current_user)
    if t.subject_type:
        abort(404)
    form = ReplyForm()
    if not form.validate():
        return error_response(422, _first_error(form))
    post = service.add_reply(t, current_user, form.body.data, quote_post_id=_reply_args(form),
                             nonce=form.nonce.data, images=request.files.getlist("images"))
    return _reply_response(t, post, after=form.after.data, dom_id=f"thread-{t.id}",
                           poll_url=url_for("forum.poll", thread_id=t.id),
                           reply_url=url_for("forum.reply", thread_id=t.id),
                           full_url=url_for("forum.thread", thread_id=t.id),
                           fallback=service.post_url(post))


def _first_error(form) -> str:
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return messages.BAD_REQUEST


def _poll_response(t, dom_id, poll_url, full_url):
    after = _int_arg("after") or 0
    views = service.posts_after(t, current_user, after)
    if not views:
        return Response(status=204)
    return render_template("forum/_reply_result.html", posts=views, thread=t, dom_id=dom_id,
                           poll_url=poll_url, full_url=full_url, last_number=t.last_number,
                           reply_count=t.reply_count, form=None, reactions=REACTIONS, embedded=True,
                           is_moderator=service.is_moderator(current_user))


@bp.get("/threads/<uuid:thread_id>/poll")
def poll(thread_id):
    t = service.get_thread(thread_id, current_user)
    return _poll_response(t, f"thread-{t.id}", url_for("forum.poll", thread_id=t.id),
                          url_for("forum.thread", thread_id=t.id))


def _subject(subject_type, subject_id):
    subject = service.resolve_subject(subject_type, subject_id)
    if subject is None:
        abort(404)
    thread = service.thread_for(subject_type, subject_id)
    if thread is not None and thread.hidden and not service.is_moderator(current_user):
        abort(404)
    return subject, thread


@bp.get("/embed/<subject_type>/<uuid:subject_id>")
def embed(subject_type, subject_id):
    if not current_user.is_authenticated and _int_arg("before") is None:
        return _anonymous_embed(subject_type, subject_id)
    subject, t = _subject(subject_type, subject_id)
    before = _int_arg("before")
    if before is not None:
        views = service.latest_posts(t, current_user, before=before)
        return render_template("forum/_older.html", posts=views, thread=t, subject_type=subject_type,
                               subject_id=subject_id, reactions=REACTIONS, embedded=True,
                               is_moderator=service.is_moderator(current_user))
    return render_template("forum/_thread.html", **_context(
        t, subject=subject, subject_type=subject_type, subject_id=subject_id, embedded=True))


def _anonymous_embed(subject_type, subject_id):
    # The subject is resolved on every request (it may vanish or be hidden); the thread
    # itself comes from Redis, without a query, for everyone signed out.
    subject = service.resolve_subject(subject_type, subject_id)
    if subject is None:
        abort(404)

    def render() -> str:
        t = service.thread_for(subject_type, subject_id)
        if t is not None and t.hidden:
            abort(404)
        return render_template("forum/_thread.html", **_context(
            t, subject=subject, subject_type=subject_type, subject_id=subject_id, embedded=True))

    return cached_fragment(f"subject:{subject_type}:{subject_id}", "embed", render)


@bp.get("/about/<subject_type>/<uuid:subject_id>")
def subject_thread(subject_type, subject_id):
    subject, t = _subject(subject_type, subject_id)
    context = _context(t, subject=subject, subject_type=subject_type, subject_id=subject_id,
                       quote=_quote_arg(t) if t else None)
    return render_template("forum/thread.html", mod_form=None, subscription=(
        service.subscription_state(t, current_user) if t else None), **context)


@bp.post("/about/<subject_type>/<uuid:subject_id>/posts")
@login_required
@_limit("30 per hour", "10 per hour")
def subject_reply(subject_type, subject_id):
    _subject(subject_type, subject_id)
    form = ReplyForm()
    if not form.validate():
        return error_response(422, _first_error(form))
    t = service.ensure_subject_thread(subject_type, subject_id, current_user)
    post = service.add_reply(t, current_user, form.body.data, quote_post_id=_reply_args(form),
                             nonce=form.nonce.data, images=request.files.getlist("images"))
    full = url_for("forum.subject_thread", subject_type=subject_type, subject_id=subject_id)
    return _reply_response(
        t, post, after=form.after.data, dom_id=f"subject-{subject_type}-{subject_id}",
        poll_url=url_for("forum.subject_poll", subject_type=subject_type, subject_id=subject_id),
        reply_url=url_for("forum.subject_reply", subject_type=subject_type, subject_id=subject_id),
        full_url=full, fallback=f"{full}#post-{post.id}")


@bp.get("/about/<subject_type>/<uuid:subject_id>/poll")
def subject_poll(subject_type, subject_id):
    _, t = _subject(subject_type, subject_id)
    if t is None:
        return Response(status=204)
    return _poll_response(t, f"subject-{subject_type}-{subject_id}",
                          url_for("forum.subject_poll", subject_type=subject_type,
                                  subject_id=subject_id),
                          url_for("forum.subject_thread", subject_type=subject_type,
                                  subject_id=subject_id))


def _back_to(post):
    if post.thread.subject_type:
        return url_for("forum.subject_thread", subject_type=post.thread.subject_type,
                       subject_id=post.thread.subject_id, _anchor=f"post-{post.id}")
    return service.post_url(post)


@bp.route("/posts/<uuid:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit_post(post_id):
    post = service.get_post(post_id, current_user)
    if post.deleted:
        abort(404)
    if not (post.is_owned_by(current_user) or service.is_moderator(current_user)):
        abort(403)
    form = EditForm(obj=post)
    if form.validate_on_submit():
        service.edit_post(post, current_user, form.body.data)
        flash("Your changes are saved.", "success")
        return redirect(_back_to(post), 303)
    return render_template("forum/edit_post.html", form=form, post=post), 422 if form.errors else 200


@bp.get("/posts/<uuid:post_id>/history")
def post_history(post_id):
    post = service.get_post(post_id, current_user)
    if post.deleted:
        abort(404)
    return render_template("forum/history.html", post=post, revisions=service.post_history(post),
                           back=_back_to(post))


@bp.post("/posts/<uuid:post_id>/delete")
@login_required
def delete_post(post_id):
    post = service.get_post(post_id, current_user)
    service.delete_post(post, current_user)
    flash("Post deleted.", "info")
    return redirect(_back_to(post), 303)


@bp.post("/posts/<uuid:post_id>/reactions/<kind>")
@login_required
def react(post_id, kind):
    post = service.get_post(post_id, current_user)
    service.toggle_reaction(post, current_user, kind)
    if wants_fragment():
        counts, mine = service.reaction_summary([post.id], current_user)
        return render_template("forum/_reactions.html", pv=service.PostView(
            post, counts.get(post.id, {}), mine.get(post.id, set())), reactions=REACTIONS)
    return redirect(_back_to(post), 303)


@bp.post("/posts/<uuid:post_id>/accept")
@login_required
def accept(post_id):
    post = service.get_post(post_id, current_user)
    service.accept_answer(post, current_user)
    flash("Marked as the answer.", "success")
    return redirect(_back_to(post), 303)


@bp.route("/posts/<uuid:post_id>/report", methods=["GET", "POST"])
@login_required
@_limit("10 per hour", "5 per hour")
def report(post_id):
    post = service.get_post(post_id, current_user)
    form = ReportForm()
    if form.validate_on_submit():
        created = service.report_post(post, current_user, form.reason.data or "")
        flash(messages.REPORT_THANKS if created else messages.REPORT_DUPLICATE, "info")
        return redirect(_back_to(post), 303)
    return render_template("forum/report.html", form=form, post=post), 422 if form.errors else 200


@bp.post("/threads/<uuid:thread_id>/subscription")
@login_required
def subscribe(thread_id):
    t = service.get_thread(thread_id, current_user)
    state = request.form.get("state") or None
    service.set_subscription(t, current_user, state)
    flash({"watch": "You're watching this thread.", "mute": "Thread muted."}.get(
        state, "Back to default notifications for this thread."), "success")
    return redirect(_thread_url(t), 303)


@bp.post("/threads/<uuid:thread_id>/moderate")
@roles_required("moderator")
def moderate_thread(thread_id):
    t = service.get_thread(thread_id, current_user)
    form = ModerationForm()
    form.category.choices = [(str(c.id), c.name) for c in service.list_categories(current_user)]
    if not form.validate():
        return error_response(422, _first_error(form))
    target = None
    if form.action.data == "move":
        try:
            target = service.get_category(uuid.UUID(form.category.data or ""), current_user)
        except ValueError:
            abort(422)
    service.moderate_thread(t, current_user, form.action.data, form.reason.data or "", target)
    flash(messages.MOD_DONE, "success")
    return redirect(_thread_url(t), 303)


@bp.post("/posts/<uuid:post_id>/moderate")
@roles_required("moderator")
def moderate_post(post_id):
    post = service.get_post(post_id, current_user)
    form = ModerationForm()
    if not form.validate():
        return error_response(422, _first_error(form))
    service.moderate_post(post, current_user, form.action.data, form.reason.data or "")
    flash(messages.MOD_DONE, "success")
    return redirect(_back_to(post), 303)


@bp.get("/mentions")
@login_required
def mentions():
    query = request.args.get("q")
    if query is None:
        # The reply box sends its whole text: suggest for the word being typed after "@".
        match = _TYPING_MENTION.search(request.args.get("body", "")[-200:])
        query = match.group(1) if match else ""
    users = service.mention_suggestions(query[:40])
    return render_template("forum/_mentions.html", users=users,
                           handle=service.mention_handle)


@bp.get("/members/<uuid:user_id>")
def member(user_id):
    from app.accounts.models import User
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        abort(404)
    return render_template("forum/member.html", member=user, handle=service.mention_handle(user),
                           threads=service.threads_by(user.id, current_user))


@bp.get("/images/<uuid:image_id>")
def image(image_id):
    row = db.session.get(PostImage, image_id)
    if row is None:
        abort(404)
    post = service.get_post(row.post_id, current_user)
    if post.deleted:
        abort(404)
    thumb = request.args.get("size") == "thumb"
    key = row.thumb_key if thumb else row.key
    url = get_storage().url(key)
    if url:
        return redirect(url)
    try:
        data = get_storage().open(key)
    except FileNotFoundError:
        abort(404)
    response = Response(data, content_type="image/jpeg" if thumb else row.content_type)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    """Offer the forum to the navigation, home page, seeders and search."""
    from app.forum.bench import seed_bench_thread
    from app.forum.search import register as register_search

    register_nav_link(app, "forum.index", "Forum")
    register_home_section(app, "forum/_home_section.html",
                          lambda: {"threads": service.public_recent_threads(limit=5)})
    register_seeder(app, "forum", service.seed_categories)
    register_bench_seeder(app, "forum", seed_bench_thread)
    register_search(app)
    register_sitemap_source(app, service.sitemap_entries)
    if app.config.get("BENCH_FORUM_SUBJECT"):
        from app.forum.bench import register_bench_subject
        register_bench_subject(app)
