"""Forum operations: threads, replies, edits, reactions, embedding, subscriptions, moderation."""
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, url_for
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core import messages
from app.core.images import clean_image
from app.core.logging import log_event
from app.core.markdown import find_mentions, render_markdown
from app.core.models import as_utc, utcnow
from app.core import fragments
from app.core.redis import get_redis
from app.core.storage import get_storage
from app.extensions import db
from app.forum import search_index
from app.forum.models import (REACTIONS, Category, ModAction, Post, PostImage, PostRevision,
                              Reaction, Report, Subscription, Thread)
from app.notifications.service import Notice, notify

log = logging.getLogger(__name__)

PER_PAGE = 20
EMBED_PAGE = 5
MAX_BODY = 20_000
MAX_IMAGES = 4
REPORT_THRESHOLD = 3
NEW_ACCOUNT_AGE = timedelta(days=1)
THREAD_MOD_ACTIONS = ("pin", "unpin", "lock", "unlock", "hide", "restore", "move")
POST_MOD_ACTIONS = ("hide", "restore")
_VIEWS_KEY = "verdant:forum:views:{}"
# Bounds how long a change no writer announced (an admin-panel edit, a new display name) stays unseen.
_TAG_RE = re.compile(r"[^a-z0-9-]+")

DEFAULT_CATEGORIES = (
    ("houseplants", "Houseplants", "Care, repotting and rescue for plants that live indoors."),
    ("vegetables", "Vegetables & herbs", "Growing food: sowing, harvests, pests and gluts."),
    ("plant-id", "Plant identification", "Not sure what it is? Post a photo and ask."),
    ("pests-diseases", "Pests & diseases", "Spots, holes, wilting and what to do about them."),
    ("garden-design", "Garden design", "Borders, pots, balconies and planting plans."),
    ("off-topic", "Potting shed", "Everything else gardeners talk about."),
)


class ForumError(Exception):
    """A request the forum refuses, with the status and message to show."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class PostView:
    """A post as a page shows it: reaction counts and what the reader reacted with."""

    post: Post
    counts: dict[str, int] = field(default_factory=dict)
    mine: set[str] = field(default_factory=set)


def is_moderator(user) -> bool:
    """Tell whether the user may moderate the forum."""
    return bool(user and getattr(user, "is_authenticated", False) and user.has_role("moderator"))


def is_new_account(user: User) -> bool:
    """Tell whether the account is younger than a day or has no approved post yet."""
    if utcnow() - as_utc(user.created_at) < NEW_ACCOUNT_AGE:
        return True
    approved = db.session.scalar(select(Post.id).where(
        Post.author_id == user.id, Post.hidden.is_(False), Post.deleted_at.is_(None)).limit(1))
    return approved is None


def mention_handle(user: User) -> str:
    """Return the name others type after "@" to mention the user."""
    return re.sub(r"\s+", "", user.display_name)


def find_user_by_handle(handle: str) -> User | None:
    """Find the active user whose display name, without spaces, is `handle` (any case)."""
    return db.session.scalar(
        select(User).where(func.lower(func.replace(User.display_name, " ", "")) == handle.lower(),
                           User.active.is_(True)).order_by(User.created_at).limit(1))


def mention_suggestions(prefix: str, limit: int = 8) -> list[User]:
    """Return users whose handle starts with `prefix`, for the @mention autocomplete."""
    prefix = prefix.lstrip("@").strip().lower()
    if not prefix:
        return []
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    handle = func.lower(func.replace(User.display_name, " ", ""))
    return list(db.session.scalars(select(User).where(
        handle.like(f"{escaped}%", escape="\\"), User.active.is_(True))
        .order_by(User.display_name).limit(limit)))


def _render(body: str, author: User) -> tuple[str, list[User]]:
    found: dict[str, User | None] = {}
    for name in find_mentions(body)[:20]:
        found[name] = find_user_by_handle(name)

    def lookup(name: str) -> str | None:
        user = found.get(name)
        return url_for("forum.member", user_id=user.id) if user else None

    html = render_markdown(body, mentions=lookup, nofollow=is_new_account(author),
                           heading_anchors=False)
    mentioned = {u.id: u for u in found.values() if u is not None}
    return html, list(mentioned.values())


def _check_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ForumError(422, messages.POST_EMPTY)
    if len(body) > MAX_BODY:
        raise ForumError(422, messages.POST_TOO_LONG)
    return body


def normalise_tags(raw: str | Iterable[str]) -> list[str]:
    """Turn user-typed tags into at most 5 short lower-case slugs."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    tags: list[str] = []
    for part in parts:
        tag = _TAG_RE.sub("-", part.strip().lower()).strip("-")[:30]
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:5]


def can_see_category(user, category: Category | None) -> bool:
    """Tell whether the user may see threads in the category."""
    if category is None or category.min_role is None:
        return True
    return bool(getattr(user, "is_authenticated", False) and user.has_role(category.min_role))


def list_categories(user) -> list[Category]:
    """Return the categories the user may see, in their order."""
    rows = db.session.scalars(select(Category).order_by(Category.position, Category.name))
    return [c for c in rows if can_see_category(user, c)]


def get_category(category_id: uuid.UUID, user) -> Category:
    """Load a category the user may see, or raise 404."""
    category = db.session.get(Category, category_id)
    if category is None or not can_see_category(user, category):
        raise ForumError(404, messages.NOT_FOUND)
    return category


def seed_categories() -> str:
    """Create the default categories that do not exist yet."""
    existing = set(db.session.scalars(select(Category.slug)))
    added = 0
    for position, (slug, name, description) in enumerate(DEFAULT_CATEGORIES):
        if slug not in existing:
            db.session.add(Category(slug=slug, name=name, description=description,
                                    position=position))
            added += 1
    db.session.commit()
    return f"{added} forum categories created"


def resolve_subject(subject_type: str, subject_id: uuid.UUID) -> tuple[str, str] | None:
    """Return (title, url) of a discussable subject the reader may see, or None."""
    resolve = current_app.extensions.get("discussables", {}).get(subject_type)
    return resolve(subject_id) if resolve else None


def thread_for(subject_type: str, subject_id: uuid.UUID) -> Thread | None:
    """Return the thread embedded under a subject, or None before its first reply."""
    return db.session.scalar(select(Thread).where(Thread.subject_type == subject_type,
                                                  Thread.subject_id == subject_id))


def get_thread(thread_id: uuid.UUID, user) -> Thread:
    """Load a thread the user may read, or raise 404 (hidden, private category, gone subject)."""
    thread = db.session.get(Thread, thread_id)
    if thread is None or not can_see_category(user, thread.category):
        raise ForumError(404, messages.NOT_FOUND)
    if thread.hidden and not is_moderator(user):
        raise ForumError(404, messages.NOT_FOUND)
    if thread.subject_type and resolve_subject(thread.subject_type, thread.subject_id) is None:
        raise ForumError(404, messages.NOT_FOUND)
    return thread


def get_post(post_id: uuid.UUID, user) -> Post:
    """Load a post in a thread the user may read, or raise 404."""
    post = db.session.get(Post, post_id)
    if post is None:
        raise ForumError(404, messages.NOT_FOUND)
    get_thread(post.thread_id, user)
    if post.hidden and not (is_moderator(user) or post.is_owned_by(user)):
        raise ForumError(404, messages.NOT_FOUND)
    return post


def _store_images(post: Post, files: list) -> list[str]:
    keys: list[str] = []
    storage = get_storage()
    for upload in files:
        image = clean_image(upload)
        image_id = uuid.uuid4()
        key = f"forum/{post.id}/{image_id}{image.extension}"
        thumb_key = f"forum/{post.id}/{image_id}-thumb.jpg"
        storage.save(key, image.data, image.content_type)
        storage.save(thumb_key, image.thumbnail, "image/jpeg")
        keys += [key, thumb_key]
        db.session.add(PostImage(id=image_id, post_id=post.id, key=key, thumb_key=thumb_key,
                                 content_type=image.content_type, width=image.width,
                                 height=image.height))
    return keys


def _check_images(files: list) -> list:
    files = [f for f in files if f and getattr(f, "filename", "")]
    if len(files) > MAX_IMAGES:
        raise ForumError(413, messages.POST_TOO_MANY_IMAGES)
    return files


def _write_post(thread: Thread, author: User, body: str, *, quoted: Post | None = None,
                nonce: str | None = None, images: list | None = None) -> Post:
    html, mentioned = _render(body, author)
    now = utcnow()
    # One UPDATE both numbers the post and bumps the counters, so concurrent replies never
    # share a number: the row lock orders them on PostgreSQL, SQLite has one writer anyway.
    number = db.session.execute(
        update(Thread).where(Thread.id == thread.id)
        .values(last_number=Thread.last_number + 1, post_count=Thread.post_count + 1,
                last_post_at=now).returning(Thread.last_number)).scalar_one()
    post = Post(id=uuid.uuid4(), thread_id=thread.id, author_id=author.id, number=number,
                body=body, html=html, quoted_post_id=quoted.id if quoted else None,
                nonce=nonce or None)
    db.session.add(post)
    stored: list[str] = []
    try:
        stored = _store_images(post, images or [])
        db.session.flush()
    except Exception:
        db.session.rollback()
        for key in stored:
            get_storage().delete(key)
        raise
    post._mentioned = mentioned
    return post


def _existing_by_nonce(author: User, nonce: str | None) -> Post | None:
    if not nonce:
        return None
    return db.session.scalar(select(Post).where(Post.author_id == author.id, Post.nonce == nonce))


def create_thread(category: Category, author: User, title: str, body: str, *,
                  tags: str | Iterable[str] = "", nonce: str | None = None,
                  images: list | None = None, thread_id: uuid.UUID | None = None) -> Thread:
    """Open a thread with its first post; the author watches it."""
    existing = _existing_by_nonce(author, nonce)
    if existing is not None:
        return existing.thread
    title = (title or "").strip()[:200]
    body = _check_body(body)
    images = _check_images(images or [])
    if not title:
        raise ForumError(422, messages.POST_EMPTY)
    thread = Thread(id=thread_id or uuid.uuid4(), category_id=category.id, author_id=author.id,
                    title=title, tags=normalise_tags(tags))
    db.session.add(thread)
    db.session.flush()
    try:
        post = _write_post(thread, author, body, nonce=nonce, images=images)
        db.session.add(Subscription(thread_id=thread.id, user_id=author.id, state="watch"))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = _existing_by_nonce(author, nonce)
        if existing is None:
            raise
        return existing.thread
    log_event("thread_created", "success", thread_id=str(thread.id))
    _notify_mentions(post, thread, author, already=set())
    return thread


def ensure_subject_thread(subject_type: str, subject_id: uuid.UUID, author: User) -> Thread:
    """Return the subject's thread, creating it on the first reply."""
    subject = resolve_subject(subject_type, subject_id)
    if subject is None:
        raise ForumError(404, messages.NOT_FOUND)
    thread = thread_for(subject_type, subject_id)
    if thread is not None:
        return thread
    thread = Thread(category_id=None, author_id=author.id, title=subject[0][:200],
                    subject_type=subject_type, subject_id=subject_id)
    db.session.add(thread)
    try:
        db.session.commit()
    except IntegrityError:
        # Two first replies at once: the other request created it; use theirs.
        db.session.rollback()
        thread = thread_for(subject_type, subject_id)
        if thread is None:
            raise
    log_event("thread_created", "success", thread_id=str(thread.id), subject_type=subject_type)
    return thread


def add_reply(thread: Thread, author: User, body: str, *, quote_post_id: uuid.UUID | None = None,
              nonce: str | None = None, images: list | None = None) -> Post:
    """Add a reply (once per form submission) and notify watchers, the quoted and the mentioned."""
    existing = _existing_by_nonce(author, nonce)
    if existing is not None:
        return existing
    if thread.locked and not is_moderator(author):
        raise ForumError(403, messages.THREAD_LOCKED)
    body = _check_body(body)
    images = _check_images(images or [])
    quoted = None
    if quote_post_id is not None:
        quoted = db.session.get(Post, quote_post_id)
        if quoted is None or quoted.thread_id != thread.id:
            raise ForumError(404, messages.NOT_FOUND)
        if quoted.deleted or quoted.hidden:
            raise ForumError(422, messages.POST_GONE)
    try:
        post = _write_post(thread, author, body, quoted=quoted, nonce=nonce, images=images)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = _existing_by_nonce(author, nonce)
        if existing is None:
            raise
        return existing
    db.session.refresh(thread)
    invalidate_fragments(thread)
    log_event("reply_added", "success", thread_id=str(thread.id), post_id=str(post.id))
    _notify_reply(post, thread, author, quoted)
    return post


def post_url(post: Post) -> str:
    """Return the URL of the post on its thread page."""
    page = (post.number - 1) // PER_PAGE + 1
    return url_for("forum.thread", thread_id=post.thread_id, page=page if page > 1 else None,
                   _anchor=f"post-{post.id}")


def _notify_mentions(post: Post, thread: Thread, author: User, already: set) -> None:
    notices = [Notice(user.id, "mention", f"{author.display_name} mentioned you in “{thread.title}”",
                      post_url(post))
               for user in getattr(post, "_mentioned", []) if user.id not in already]
    notify(notices, actor_id=author.id)


def _notify_reply(post: Post, thread: Thread, author: User, quoted: Post | None) -> None:
    # Each person hears once per post, by the most specific reason: mention, quote, reply.
    muted = set(db.session.scalars(select(Subscription.user_id).where(
        Subscription.thread_id == thread.id, Subscription.state == "mute")))
    watchers = set(db.session.scalars(select(Subscription.user_id).where(
        Subscription.thread_id == thread.id, Subscription.state == "watch")))
    mentioned = {u.id for u in getattr(post, "_mentioned", [])}
    url = post_url(post)
    notices: list[Notice] = []
    told: set = {author.id}
    for user_id in mentioned - told:
        notices.append(Notice(user_id, "mention",
                              f"{author.display_name} mentioned you in “{thread.title}”", url))
    told |= mentioned
    if quoted is not None and quoted.author_id not in told and quoted.author_id not in muted:
        notices.append(Notice(quoted.author_id, "quote",
                              f"{author.display_name} quoted you in “{thread.title}”", url))
        told.add(quoted.author_id)
    for user_id in sorted(watchers - told - muted, key=str):
        notices.append(Notice(user_id, "reply",
                              f"{author.display_name} replied to “{thread.title}”", url))
    notify(notices, actor_id=author.id)


def edit_post(post: Post, editor: User, body: str) -> Post:
    """Change a post's text, keeping the previous version in its history."""
    if post.deleted:
        raise ForumError(404, messages.NOT_FOUND)
    if not (post.is_owned_by(editor) or is_moderator(editor)):
        raise ForumError(403, messages.FORBIDDEN)
    body = _check_body(body)
    if body == post.body:
        return post
    db.session.add(PostRevision(post_id=post.id, editor_id=editor.id, body=post.body,
                                html=post.html))
    post.html, _ = _render(body, post.author)
    post.body = body
    post.edited_at = utcnow()
    db.session.commit()
    invalidate_fragments(post.thread)
    log_event("post_edited", "success", post_id=str(post.id))
    return post


def post_history(post: Post) -> list[PostRevision]:
    """Return the earlier versions of a post, newest first."""
    return list(db.session.scalars(select(PostRevision).where(PostRevision.post_id == post.id)
                                   .order_by(PostRevision.created_at.desc())))


def delete_post(post: Post, user: User) -> None:
    """Soft-delete a post: the thread keeps its place and says it was deleted."""
    if post.deleted:
        raise ForumError(404, messages.NOT_FOUND)
    if not (post.is_owned_by(user) or is_moderator(user)):
        raise ForumError(403, messages.FORBIDDEN)
    post.deleted_at = utcnow()
    if not post.is_owned_by(user):
        _record(user, "delete", "post", post.id, "")
    db.session.commit()
    invalidate_fragments(post.thread)
    log_event("post_deleted", "success", post_id=str(post.id))


def toggle_reaction(post: Post, user: User, kind: str) -> bool:
    """Add the user's reaction of this kind, or take it back; True when it is now on."""
    if kind not in REACTIONS:
        raise ForumError(404, messages.NOT_FOUND)
    if post.deleted:
        raise ForumError(404, messages.NOT_FOUND)
    existing = db.session.scalar(select(Reaction).where(
        Reaction.post_id == post.id, Reaction.user_id == user.id, Reaction.kind == kind))
    if existing is not None:
        db.session.delete(existing)
        db.session.commit()
        invalidate_fragments(post.thread)
        return False
    db.session.add(Reaction(post_id=post.id, user_id=user.id, kind=kind))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a double click: the first one already counted
    invalidate_fragments(post.thread)
    return True


def reaction_summary(post_ids: list[uuid.UUID], user) -> tuple[dict, dict]:
    """Return {post_id: {kind: count}} and {post_id: {kinds the user chose}} in two queries."""
    counts: dict = {}
    mine: dict = {}
    if not post_ids:
        return counts, mine
    for post_id, kind, n in db.session.execute(
            select(Reaction.post_id, Reaction.kind, func.count()).where(Reaction.post_id.in_(post_ids))
            .group_by(Reaction.post_id, Reaction.kind)):
        counts.setdefault(post_id, {})[kind] = n
    if getattr(user, "is_authenticated", False):
        for post_id, kind in db.session.execute(select(Reaction.post_id, Reaction.kind).where(
                Reaction.post_id.in_(post_ids), Reaction.user_id == user.id)):
            mine.setdefault(post_id, set()).add(kind)
    return counts, mine


def _views(posts: list[Post], user) -> list[PostView]:
    counts, mine = reaction_summary([p.id for p in posts], user)
    return [PostView(p, counts.get(p.id, {}), mine.get(p.id, set())) for p in posts]


def _posts_query(thread: Thread):
    return select(Post).where(Post.thread_id == thread.id)


def page_count(thread: Thread) -> int:
    """Return how many pages the thread's posts fill."""
    return max(1, -(-thread.last_number // PER_PAGE))


def thread_page(thread: Thread, user, page: int = 1) -> tuple[list[PostView], int]:
    """Return one page of posts, oldest first, and the number of pages."""
    pages = page_count(thread)
    page = min(max(page, 1), pages)
    posts = list(db.session.scalars(_posts_query(thread).where(
        Post.number > (page - 1) * PER_PAGE, Post.number <= page * PER_PAGE)
        .order_by(Post.number)))
    return _views(posts, user), pages


def latest_posts(thread: Thread | None, user, *, before: int | None = None,
                 limit: int = EMBED_PAGE) -> list[PostView]:
    """Return the newest posts (older than `before` when given), oldest first."""
    if thread is None:
        return []
    query = _posts_query(thread)
    if before is not None:
        query = query.where(Post.number < before)
    posts = list(db.session.scalars(query.order_by(Post.number.desc()).limit(limit)))
    return _views(posts[::-1], user)


def posts_after(thread: Thread | None, user, after: int, limit: int = 50) -> list[PostView]:
    """Return posts numbered above `after`, oldest first (what a polling reader has not seen)."""
    if thread is None or thread.last_number <= after:
        return []
    posts = list(db.session.scalars(_posts_query(thread).where(Post.number > after)
                                    .order_by(Post.number).limit(limit)))
    return _views(posts, user)


def thread_scope(thread: Thread) -> list[str]:
    """Name the cache scopes a change to this thread makes stale."""
    scopes = [f"thread:{thread.id}"]
    if thread.subject_type:
        scopes.append(f"subject:{thread.subject_type}:{thread.subject_id}")
    return scopes


def invalidate_fragments(thread: Thread) -> None:
    """Make a thread's cached HTML stale after a change readers must see."""
    fragments.invalidate(*thread_scope(thread))


def count_view(thread_id: uuid.UUID) -> int:
    """Count one view and return the total (counted in Redis, not a row write per read)."""
    return int(get_redis().incr(_VIEWS_KEY.format(thread_id)))


def recent_threads(user, limit: int = 10, category: Category | None = None) -> list[Thread]:
    """Return the most recently active visible threads (pinned first within a category)."""
    query = select(Thread).where(Thread.hidden.is_(False))
    if category is not None:
        query = query.where(Thread.category_id == category.id).order_by(
            Thread.pinned.desc(), Thread.last_post_at.desc())
    else:
        visible = [c.id for c in list_categories(user)]
        query = query.where(Thread.category_id.in_(visible)).order_by(Thread.last_post_at.desc())
    return list(db.session.scalars(query.limit(limit)))


def public_recent_threads(limit: int = 5) -> list[Thread]:
    """Return the most recently active threads everyone may see, in one query (home page)."""
    public = select(Category.id).where(Category.min_role.is_(None))
    return list(db.session.scalars(select(Thread).where(
        Thread.hidden.is_(False), Thread.category_id.in_(public))
        .order_by(Thread.last_post_at.desc()).limit(limit)))


SITEMAP_LIMIT = 40_000  # a sitemap file holds 50,000 URLs; leave room for posts and species


def sitemap_entries() -> list[tuple[str, datetime | None]]:
    """Return (absolute URL, last activity) of every thread everyone may see, newest first."""
    public = select(Category.id).where(Category.min_role.is_(None))
    rows = db.session.execute(select(Thread.id, Thread.last_post_at).where(
        Thread.hidden.is_(False), Thread.category_id.in_(public))
        .order_by(Thread.last_post_at.desc()).limit(SITEMAP_LIMIT))
    return [(url_for("forum.thread", thread_id=thread_id, _external=True), last) for thread_id, last in rows]


def threads_by(user_id: uuid.UUID, viewer, limit: int = 30) -> list[Thread]:
    """Return visible threads a member started."""
    visible = [c.id for c in list_categories(viewer)]
    return list(db.session.scalars(select(Thread).where(
        Thread.author_id == user_id, Thread.hidden.is_(False), Thread.category_id.in_(visible))
        .order_by(Thread.last_post_at.desc()).limit(limit)))


def subscription_state(thread: Thread, user) -> str | None:
    """Return "watch", "mute" or None for the user and thread."""
    if not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalar(select(Subscription.state).where(
        Subscription.thread_id == thread.id, Subscription.user_id == user.id))


def set_subscription(thread: Thread, user: User, state: str | None) -> None:
    """Watch or mute a thread, or go back to the default (None)."""
    if state not in ("watch", "mute", None):
        raise ForumError(422, messages.BAD_REQUEST)
    row = db.session.scalar(select(Subscription).where(
        Subscription.thread_id == thread.id, Subscription.user_id == user.id))
    if state is None:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(Subscription(thread_id=thread.id, user_id=user.id, state=state))
    else:
        row.state = state
    db.session.commit()


def accept_answer(post: Post, user: User) -> None:
    """Mark a reply as the thread's accepted answer (thread author or moderator)."""
    thread = post.thread
    if not (thread.author_id == user.id or is_moderator(user)):
        raise ForumError(403, messages.FORBIDDEN)
    if post.deleted or post.hidden:
        raise ForumError(422, messages.POST_GONE)
    thread.accepted_post_id = post.id
    db.session.commit()
    invalidate_fragments(thread)
    log_event("answer_accepted", "success", thread_id=str(thread.id), post_id=str(post.id))
    notify([Notice(post.author_id, "accepted",
                   f"Your reply in “{thread.title}” was marked as the answer", post_url(post))],
           actor_id=user.id)


def report_post(post: Post, reporter: User, reason: str = "") -> bool:
    """Report a post once per person; the third reporter hides it until a moderator reviews it."""
    if post.deleted:
        raise ForumError(404, messages.NOT_FOUND)
    db.session.add(Report(post_id=post.id, reporter_id=reporter.id, reason=(reason or "")[:500]))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    open_reports = db.session.scalar(select(func.count(func.distinct(Report.reporter_id))).where(
        Report.post_id == post.id, Report.resolved_at.is_(None)))
    if open_reports >= REPORT_THRESHOLD and post.reviewed_at is None and not post.hidden:
        post.hidden = True
        post.hidden_reason = "reported"
        db.session.commit()
        invalidate_fragments(post.thread)
        log_event("post_auto_hidden", "success", post_id=str(post.id), reports=open_reports)
    log_event("post_reported", "success", post_id=str(post.id))
    return True


def _record(moderator: User, action: str, target_type: str, target_id: uuid.UUID,
            reason: str) -> ModAction:
    row = ModAction(moderator_id=moderator.id, action=action, target_type=target_type,
                    target_id=target_id, reason=(reason or "")[:500])
    db.session.add(row)
    return row


def moderate_thread(thread: Thread, moderator: User, action: str, reason: str = "",
                    category: Category | None = None) -> None:
    """Pin, unpin, lock, unlock, hide, restore or move a thread, and log who did it and why."""
    if not is_moderator(moderator):
        raise ForumError(403, messages.FORBIDDEN)
    if action not in THREAD_MOD_ACTIONS:
        raise ForumError(422, messages.BAD_REQUEST)
    if action == "move":
        if category is None or thread.subject_type:
            raise ForumError(422, messages.BAD_REQUEST)
        thread.category_id = category.id
    else:
        attribute, value = {"pin": ("pinned", True), "unpin": ("pinned", False),
                            "lock": ("locked", True), "unlock": ("locked", False),
                            "hide": ("hidden", True), "restore": ("hidden", False)}[action]
        setattr(thread, attribute, value)
    _record(moderator, action, "thread", thread.id, reason)
    db.session.commit()
    invalidate_fragments(thread)
    log_event("thread_moderated", "success", thread_id=str(thread.id), action=action)
    why = f": {reason}" if reason else ""
    notify([Notice(thread.author_id, "moderation",
                   f"A moderator did “{action}” on your thread “{thread.title}”{why}",
                   url_for("forum.thread", thread_id=thread.id))], actor_id=moderator.id)


def moderate_post(post: Post, moderator: User, action: str, reason: str = "") -> None:
    """Hide or restore a post (restoring also closes its reports), and log it."""
    if not is_moderator(moderator):
        raise ForumError(403, messages.FORBIDDEN)
    if action not in POST_MOD_ACTIONS:
        raise ForumError(422, messages.BAD_REQUEST)
    now = utcnow()
    post.hidden = action == "hide"
    post.hidden_reason = (reason or "moderator")[:200] if post.hidden else None
    post.reviewed_at = now
    db.session.execute(update(Report).where(Report.post_id == post.id, Report.resolved_at.is_(None))
                       .values(resolved_at=now, resolved_by_id=moderator.id))
    _record(moderator, action, "post", post.id, reason)
    db.session.commit()
    invalidate_fragments(post.thread)
    log_event("post_moderated", "success", post_id=str(post.id), action=action)
    why = f": {reason}" if reason else ""
    notify([Notice(post.author_id, "moderation",
                   f"A moderator did “{action}” on your post in “{post.thread.title}”{why}",
                   post_url(post))], actor_id=moderator.id)


def moderation_queue(limit: int = 100) -> list[tuple[Post, int]]:
    """Return posts with open reports and how many people reported each, most reported first."""
    count = func.count(func.distinct(Report.reporter_id))
    rows = db.session.execute(select(Post, count).join(Report, Report.post_id == Post.id)
                              .where(Report.resolved_at.is_(None)).group_by(Post.id)
                              .order_by(count.desc()).limit(limit)).all()
    return [(post, n) for post, n in rows]


def search_threads(query: str, limit: int, offset: int) -> tuple[list, int]:
    """Find threads everyone may read by the words of their title, tags and opening post; best first.

    Returns rows (id, score, title and what app.search.index.snippet needs) and how many matched.
    """
    return search_index.search(db.session, query, limit, offset)
