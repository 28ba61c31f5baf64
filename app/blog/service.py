"""Blog operations: saving posts with revisions, publishing and scheduling, images, reading, feeds."""
from __future__ import annotations

import difflib
import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

from flask import current_app, url_for
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.accounts.models import User
from app.blog import search_index
from app.blog.models import (DIFFICULTIES, Category, Post, PostImage, PostRevision, PostSlug,
                             Series, Tag, post_species, post_tag)
from app.core import messages
from app.core.images import ImageRejected, clean_image
from app.core.markdown import reading_time_minutes, render_markdown
from app.core.models import utcnow
from app.core.redis import get_queue, get_redis
from app.core.storage import StorageError, get_storage
from app.extensions import cache, db
from app.search.base import SearchHit
from app.search.index import snippet
from app.species.models import Species
from app.species.names import slugify_name

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 200 * 1024
PER_PAGE = 10
CACHE_VERSION_KEY = "verdant:blog:cache-version"
CACHE_TIMEOUT = 600
IMAGE_MIN_SIDE = 16
IMAGE_MAX_SIDE = 2400


class BlogError(Exception):
    """Input the blog refuses, with the form field it belongs to and the HTTP status to answer."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


@dataclass
class PostData:
    """What an editor submits for a post."""

    title: str
    body: str = ""
    summary: str = ""
    slug: str = ""
    category_ids: list[uuid.UUID] = field(default_factory=list)
    tags: str = ""
    species: str = ""
    series_id: uuid.UUID | None = None
    series_order: int | None = None
    difficulty: str | None = None
    featured: bool = False
    seo_description: str = ""

    @classmethod
    def from_post(cls, post: Post) -> PostData:
        """Capture a post's current editable fields."""
        return cls(title=post.title, body=post.body, summary=post.summary, slug=post.slug,
                   category_ids=[c.id for c in post.categories],
                   tags=", ".join(t.name for t in post.tags),
                   species=", ".join(s.slug for s in post.species), series_id=post.series_id,
                   series_order=post.series_order, difficulty=post.difficulty,
                   featured=post.featured, seo_description=post.seo_description or "")


def slugify(text: str) -> str:
    """Turn a title into a URL slug of at most 200 characters."""
    return slugify_name(text)[:200].strip("-")


def doc_id_for(post_id: uuid.UUID | None) -> str:
    """Return the prefix that keeps a post's heading and footnote ids unique on a page."""
    return f"post-{post_id.hex[:12]}" if post_id else "post-new"


def species_url(species: Species) -> str | None:
    """Return the species page URL when the catalogue serves one."""
    if "species.detail" in current_app.view_functions:
        return url_for("species.detail", slug=species.slug)
    return None


def _species_card(species: Species) -> str:
    common = species.common_name
    name = (f'<strong>{escape(common)}</strong> <em>{escape(species.scientific_name)}</em>'
            if common else f"<strong><em>{escape(species.scientific_name)}</em></strong>")
    url = species_url(species)
    inner = f'<a href="{escape(url)}">{name}</a>' if url else name
    facts = " · ".join(escape(v.replace("_", " ")) for v in (species.light, species.watering,
                                                               species.difficulty) if v)
    return (f'<div class="species-card"><span class="species-card-name">{inner}</span>'
            + (f'<span class="species-card-facts">{facts}</span>' if facts else "") + "</div>")


def species_shortcodes() -> Callable[[str, str], str | None]:
    """Return a shortcode resolver turning [[species:<slug>]] into a small species card."""
    found: dict[str, str | None] = {}

    def resolve(kind: str, slug: str) -> str | None:
        if kind != "species":
            return None
        if slug not in found:
            species = db.session.scalar(select(Species).where(Species.slug == slug.lower()))
            found[slug] = _species_card(species) if species else None
        return found[slug]

    return resolve


def render_body(body: str, post_id: uuid.UUID | None = None) -> str:
    """Render a post's Markdown to the sanitised HTML we store and preview."""
    return render_markdown(body, shortcodes=species_shortcodes(), doc_id=doc_id_for(post_id))


_SPECIES_CODE = re.compile(r"\[\[species:([A-Za-z0-9][A-Za-z0-9_.-]{0,127})\]\]")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Footnotes and link reference definitions tie distant parts of a document together.
_WHOLE_DOCUMENT = re.compile(r"\[\^|^ {0,3}\[[^\]]+\]:", re.MULTILINE)
PREVIEW_SECTION_THRESHOLD = 8 * 1024
PREVIEW_CACHE_TTL = 900


def _sections(body: str) -> list[str] | None:
    """Split Markdown before each ATX heading outside code fences; None if headings repeat."""
    sections: list[list[str]] = [[]]
    headings: set[str] = set()
    fence: str | None = None
    for line in body.splitlines(keepends=True):
        opening = _FENCE.match(line)
        if opening:
            marker = opening.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        elif fence is None and _ATX_HEADING.match(line):
            heading = line.strip().strip("#").strip().lower()
            if heading in headings:
                return None  # heading ids are deduplicated across the whole document
            headings.add(heading)
            sections.append([])
        sections[-1].append(line)
    return ["".join(lines) for lines in sections if lines]


def render_preview(body: str, post_id: uuid.UUID | None = None) -> str:
    """Render the editor's live preview, reusing unchanged sections of a long post.

    Typing changes one section at a time, so each section between headings is rendered on its
    own and cached by its text; documents whose parts depend on each other render whole.
    """
    sections = (_sections(body) if len(body) >= PREVIEW_SECTION_THRESHOLD
                and not _WHOLE_DOCUMENT.search(body) else None)
    if not sections:
        return render_body(body, post_id)
    doc_id = doc_id_for(post_id)
    keys = [f"verdant:blog:preview:{hashlib.sha256((doc_id + s).encode()).hexdigest()}"
            for s in sections]
    redis = get_redis()
    found = redis.mget(keys)
    shortcodes = species_shortcodes()
    fresh = {}
    parts = []
    for key, section, hit in zip(keys, sections, found):
        if hit is None:
            html = render_markdown(section, shortcodes=shortcodes, doc_id=doc_id)
            fresh[key] = html
        else:
            html = hit.decode()
        parts.append(html)
    if fresh:
        pipe = redis.pipeline(transaction=False)
        for key, html in fresh.items():
            pipe.set(key, html, ex=PREVIEW_CACHE_TTL)
        pipe.execute()
    return "".join(parts)


def check_body_size(body: str) -> None:
    """Refuse a body over 200 KB."""
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise BlogError("body", messages.BLOG_BODY_TOO_LARGE, 413)


def bump_cache() -> None:
    """Invalidate every cached blog page and feed at once."""
    get_redis().incr(CACHE_VERSION_KEY)


def cached(key: str, build: Callable[[], Any], timeout: int = CACHE_TIMEOUT) -> Any:
    """Return the cached value for key at the current blog version, building it on a miss."""
    version = int(get_redis().get(CACHE_VERSION_KEY) or 0)
    full_key = f"blog:v{version}:{key}"
    value = cache.get(full_key)
    if value is None:
        value = build()
        cache.set(full_key, value, timeout=timeout)
    return value


def _slug_owner(slug: str) -> uuid.UUID | None:
    owner = db.session.scalar(select(Post.id).where(Post.slug == slug))
    if owner is None:
        owner = db.session.scalar(select(PostSlug.post_id).where(PostSlug.slug == slug))
    return owner


def _choose_slug(post: Post | None, data: PostData) -> str:
    wanted = slugify(data.slug) if data.slug.strip() else ""
    if not wanted:
        # Once a post exists its address stays put unless the editor changes it on purpose.
        wanted = post.slug if post else slugify(data.title)
    if not wanted:
        wanted = f"post-{uuid.uuid4().hex[:8]}"
    owner = _slug_owner(wanted)
    if owner is not None and (post is None or owner != post.id):
        raise BlogError("slug", messages.BLOG_SLUG_TAKEN)
    return wanted


def _tags(text: str) -> list[Tag]:
    tags: dict[str, Tag] = {}
    for raw in text.split(","):
        name = " ".join(raw.split())[:60]
        slug = slugify(name)[:60]
        if not slug or slug in tags:
            continue
        tag = db.session.scalar(select(Tag).where(Tag.slug == slug))
        if tag is None:
            tag = Tag(name=name, slug=slug)
            db.session.add(tag)
        tags[slug] = tag
    return list(tags.values())


def _species(text: str, body: str) -> list[Species]:
    slugs = [s.strip().lower() for s in text.split(",") if s.strip()]
    wanted = list(dict.fromkeys(slugs))
    rows = {s.slug: s for s in db.session.scalars(select(Species).where(Species.slug.in_(wanted)))}
    unknown = [slug for slug in wanted if slug not in rows]
    if unknown:
        raise BlogError("species", messages.BLOG_UNKNOWN_SPECIES.format(slugs=", ".join(unknown)))
    # Species a post shows as cards are related to it as well.
    coded = {slug.lower() for slug in _SPECIES_CODE.findall(body)} - set(rows)
    if coded:
        rows.update({s.slug: s for s in db.session.scalars(
            select(Species).where(Species.slug.in_(coded)))})
    return list(rows.values())


def _categories(ids: Iterable[uuid.UUID]) -> list[Category]:
    ids = list(ids)
    return list(db.session.scalars(select(Category).where(Category.id.in_(ids)))) if ids else []


def _next_revision_number(post: Post) -> int:
    current = db.session.scalar(select(func.max(PostRevision.number))
                                .where(PostRevision.post_id == post.id))
    return (current or 0) + 1


def save_post(post: Post | None, data: PostData, editor: User, note: str = "") -> Post:
    """Create or update a post from editor input, storing its rendered HTML and a new revision."""
    check_body_size(data.body)
    slug = _choose_slug(post, data)
    species = _species(data.species, data.body)
    created = post is None
    if post is None:
        post = Post(id=uuid.uuid4(), author_id=editor.id, status="draft")
        db.session.add(post)
    elif slug != post.slug and post.published_at is not None:
        db.session.add(PostSlug(post_id=post.id, slug=post.slug))
    if not created:
        # Taking back one of its own old slugs: the post answers there directly again.
        db.session.execute(PostSlug.__table__.delete().where(
            PostSlug.post_id == post.id, PostSlug.slug == slug))
    post.title = data.title.strip()[:200]
    post.slug = slug
    post.summary = data.summary.strip()[:500]
    post.body = data.body
    post.body_html = render_body(data.body, post.id)
    post.reading_minutes = reading_time_minutes(data.body)
    post.categories = _categories(data.category_ids)
    post.tags = _tags(data.tags)
    post.species = species
    post.series_id = data.series_id
    post.series_order = data.series_order if data.series_id else None
    post.difficulty = data.difficulty if data.difficulty in DIFFICULTIES else None
    post.featured = bool(data.featured)
    post.seo_description = data.seo_description.strip()[:300] or None
    db.session.flush()
    db.session.add(PostRevision(post_id=post.id, number=_next_revision_number(post),
                                title=post.title, summary=post.summary, body=post.body,
                                note=note or ("Created" if created else "Saved"),
                                editor_id=editor.id))
    try:
        db.session.commit()
    except IntegrityError as exc:
        # Two editors claimed the same slug at the same moment.
        db.session.rollback()
        raise BlogError("slug", messages.BLOG_SLUG_TAKEN) from exc
    bump_cache()
    log.info("post saved", extra={"event": "post_saved", "post_id": str(post.id),
                                  "outcome": "created" if created else "updated"})
    return post


def _cancel_scheduled_job(post: Post) -> None:
    if not post.scheduled_job_id:
        return
    from rq.job import Job
    from rq.exceptions import NoSuchJobError
    queue = get_queue("slow")
    try:
        job = Job.fetch(post.scheduled_job_id, connection=queue.connection)
    except NoSuchJobError:
        pass
    else:
        job.cancel()
        job.delete()
    post.scheduled_job_id = None


def publish_post(post: Post) -> Post:
    """Publish a post now (keeping its first publication date if it had one)."""
    _cancel_scheduled_job(post)
    post.status = "published"
    post.published_at = post.published_at or utcnow()
    post.scheduled_at = None
    db.session.commit()
    bump_cache()
    log.info("post published", extra={"event": "post_published", "post_id": str(post.id),
                                      "outcome": "published"})
    return post


def schedule_post(post: Post, when: datetime) -> Post:
    """Publish a post at `when` through RQ's scheduler, or now when that time has passed."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if when <= utcnow():
        return publish_post(post)
    from app.blog.jobs import publish_scheduled_post
    _cancel_scheduled_job(post)
    post.status = "scheduled"
    post.scheduled_at = when
    job = get_queue("slow").enqueue_at(when, publish_scheduled_post, str(post.id))
    post.scheduled_job_id = job.id
    db.session.commit()
    bump_cache()
    log.info("post scheduled", extra={"event": "post_scheduled", "post_id": str(post.id),
                                      "outcome": "scheduled", "at": when.isoformat()})
    return post


def publish_if_due(post_id: uuid.UUID) -> bool:
    """Publish a scheduled post whose time has come; tell whether it was published."""
    post = db.session.get(Post, post_id)
    if post is None or post.status != "scheduled" or post.scheduled_at is None:
        return False
    due = post.scheduled_at
    if due.tzinfo is None:
        due = due.replace(tzinfo=timezone.utc)
    # A little slack: the scheduler may wake a moment before the second it was asked for.
    if due > utcnow() + timedelta(seconds=5):
        return False
    post.scheduled_job_id = None
    publish_post(post)
    return True


def unpublish_post(post: Post, status: str = "draft") -> Post:
    """Take a post back to draft, or archive it; either way the public no longer sees it."""
    _cancel_scheduled_job(post)
    post.status = "archived" if status == "archived" else "draft"
    post.scheduled_at = None
    db.session.commit()
    bump_cache()
    log.info("post unpublished", extra={"event": "post_unpublished", "post_id": str(post.id),
                                        "outcome": post.status})
    return post


def delete_post(post: Post) -> None:
    """Delete a post with its revisions and stored images."""
    _cancel_scheduled_job(post)
    keys = [image.key for image in post.images]
    db.session.delete(post)
    db.session.commit()
    for key in keys:
        try:
            get_storage().delete(key)
        except StorageError:
            log.warning("image left behind", extra={"event": "blog_image_orphaned", "key": key})
    bump_cache()


def get_post(post_id: uuid.UUID) -> Post | None:
    """Return any post by id (editors' view), or None."""
    return db.session.get(Post, post_id)


def get_revision(post: Post, number: int) -> PostRevision | None:
    """Return revision `number` of a post, or None."""
    return db.session.scalar(select(PostRevision).where(PostRevision.post_id == post.id,
                                                        PostRevision.number == number))


def restore_revision(post: Post, revision: PostRevision, editor: User) -> Post:
    """Copy a revision's title, summary and body back into the post as a new revision."""
    data = PostData.from_post(post)
    data.title, data.summary, data.body = revision.title, revision.summary, revision.body
    return save_post(post, data, editor, note=f"Restored revision {revision.number}")


def _revision_lines(revision: PostRevision) -> list[str]:
    return [f"# {revision.title}", "", *revision.summary.splitlines(), "",
            *revision.body.splitlines()]


def diff_revisions(old: PostRevision, new: PostRevision) -> list[tuple[str, str]]:
    """Return a unified diff between two revisions as (kind, line) pairs, kind in add/del/hunk/same."""
    lines = difflib.unified_diff(_revision_lines(old), _revision_lines(new),
                                 f"revision {old.number}", f"revision {new.number}",
                                 lineterm="", n=3)
    out: list[tuple[str, str]] = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out


def _image_key(post: Post, clean_ext: str) -> str:
    return f"blog/{post.id}/{uuid.uuid4().hex}{clean_ext}"


def add_image(post: Post, fp: BinaryIO, kind: str = "body") -> PostImage:
    """Clean an uploaded image and store it for a post (a new cover or social image replaces the old)."""
    try:
        clean = clean_image(fp, min_side=IMAGE_MIN_SIDE, max_side=IMAGE_MAX_SIDE)
    except ImageRejected as exc:
        raise BlogError("image", exc.message, exc.status) from exc
    key = _image_key(post, clean.extension)
    storage = get_storage()
    try:
        storage.save(key, clean.data, clean.content_type)
    except StorageError as exc:
        raise BlogError("image", messages.STORAGE_DOWN, 503) from exc
    old = [image for image in post.images if image.kind == kind] if kind != "body" else []
    image = PostImage(post_id=post.id, kind=kind, key=key, content_type=clean.content_type,
                      width=clean.width, height=clean.height)
    db.session.add(image)
    for previous in old:
        db.session.delete(previous)
    db.session.commit()
    for previous in old:
        try:
            storage.delete(previous.key)
        except StorageError:
            log.warning("image left behind", extra={"event": "blog_image_orphaned",
                                                    "key": previous.key})
    db.session.expire(post)
    bump_cache()
    return image


def get_image(image_id: uuid.UUID) -> PostImage | None:
    """Return a post image by id, or None."""
    return db.session.get(PostImage, image_id)


def image_url(image: PostImage, external: bool = False) -> str:
    """Return where a browser fetches a post image."""
    return get_storage().url(image.key) or url_for("blog.image", image_id=image.id,
                                                   _external=external)


def published() -> Any:
    """Return the select of published posts, newest first."""
    return (select(Post).where(Post.status == "published")
            .order_by(Post.published_at.desc(), Post.id)
            .options(selectinload(Post.author), selectinload(Post.cover),
                     selectinload(Post.categories)))


def list_posts(page: int = 1, *, category: Category | None = None, tag: Tag | None = None,
               author: User | None = None, per_page: int = PER_PAGE) -> Any:
    """Return one page of published posts, optionally in a category, with a tag or by an author."""
    query = published()
    if category is not None:
        query = query.where(Post.categories.contains(category))
    if tag is not None:
        query = query.where(Post.tags.contains(tag))
    if author is not None:
        query = query.where(Post.author_id == author.id)
    return db.paginate(query, page=page, per_page=per_page, error_out=False, max_per_page=50)


def featured_posts(limit: int = 3) -> list[Post]:
    """Return the newest featured published posts."""
    return list(db.session.scalars(published().where(Post.featured.is_(True)).limit(limit)))


def recent_posts(limit: int = 3) -> list[Post]:
    """Return the newest published posts."""
    return list(db.session.scalars(published().limit(limit)))


def get_published_post(slug: str) -> Post | None:
    """Return the published post at this slug, or None."""
    return db.session.scalar(select(Post).where(Post.slug == slug, Post.status == "published"))


def current_slug_for(old_slug: str) -> str | None:
    """Return the current slug of a published post that used to live at `old_slug`."""
    return db.session.scalar(select(Post.slug).join(PostSlug, PostSlug.post_id == Post.id)
                             .where(PostSlug.slug == old_slug, Post.status == "published"))


def related_posts(post: Post, limit: int = 3) -> list[Post]:
    """Return published posts sharing the most tags and species with this one."""
    tag_ids = [t.id for t in post.tags]
    species_ids = [s.id for s in post.species]
    if not tag_ids and not species_ids:
        return []
    scores: dict[uuid.UUID, int] = {}
    if tag_ids:
        for post_id, n in db.session.execute(
                select(post_tag.c.post_id, func.count()).where(post_tag.c.tag_id.in_(tag_ids))
                .group_by(post_tag.c.post_id)):
            scores[post_id] = scores.get(post_id, 0) + n
    if species_ids:
        for post_id, n in db.session.execute(
                select(post_species.c.post_id, func.count())
                .where(post_species.c.species_id.in_(species_ids))
                .group_by(post_species.c.post_id)):
            scores[post_id] = scores.get(post_id, 0) + n
    scores.pop(post.id, None)
    if not scores:
        return []
    candidates = db.session.scalars(published().where(Post.id.in_(list(scores))))
    ranked = sorted(candidates, key=lambda p: (-scores[p.id], -p.published_at.timestamp()))
    return ranked[:limit]


def series_posts(series: Series) -> list[Post]:
    """Return a series' published posts in order."""
    return list(db.session.scalars(
        select(Post).where(Post.series_id == series.id, Post.status == "published")
        .order_by(Post.series_order.is_(None), Post.series_order, Post.published_at)))


def series_neighbours(post: Post) -> tuple[Post | None, Post | None]:
    """Return the previous and next published posts in the post's series."""
    if post.series is None:
        return None, None
    posts = series_posts(post.series)
    ids = [p.id for p in posts]
    if post.id not in ids:
        return None, None
    at = ids.index(post.id)
    return (posts[at - 1] if at > 0 else None), (posts[at + 1] if at + 1 < len(posts) else None)


def get_category(slug: str) -> Category | None:
    """Return the category with this slug, or None."""
    return db.session.scalar(select(Category).where(Category.slug == slug))


def get_tag(slug: str) -> Tag | None:
    """Return the tag with this slug, or None."""
    return db.session.scalar(select(Tag).where(Tag.slug == slug))


def get_series(slug: str) -> Series | None:
    """Return the series with this slug, or None."""
    return db.session.scalar(select(Series).where(Series.slug == slug))


def get_author(user_id: uuid.UUID) -> User | None:
    """Return a user who has published at least one post, or None."""
    has_posts = db.session.scalar(select(Post.id).where(Post.author_id == user_id,
                                                        Post.status == "published").limit(1))
    return db.session.get(User, user_id) if has_posts else None


def all_categories() -> list[Category]:
    """Return every category by name."""
    return list(db.session.scalars(select(Category).order_by(Category.name)))


def all_series() -> list[Series]:
    """Return every series by title."""
    return list(db.session.scalars(select(Series).order_by(Series.title)))


def editor_posts(status: str | None = None) -> list[Post]:
    """Return every post for the editors' list, newest change first."""
    query = select(Post).options(selectinload(Post.author)).order_by(Post.updated_at.desc())
    if status:
        query = query.where(Post.status == status)
    return list(db.session.scalars(query.limit(500)))


def feed_posts(category: Category | None = None, limit: int = 20) -> list[Post]:
    """Return the posts a feed carries, newest first."""
    query = published()
    if category is not None:
        query = query.where(Post.categories.contains(category))
    return list(db.session.scalars(query.limit(limit)))


def sitemap_entries() -> list[tuple[str, datetime | None]]:
    """Return (absolute URL, last change) for the blog's public pages."""
    entries: list[tuple[str, datetime | None]] = [(url_for("blog.index", _external=True), None)]
    for slug, updated in db.session.execute(
            select(Post.slug, Post.updated_at).where(Post.status == "published")
            .order_by(Post.published_at.desc())):
        entries.append((url_for("blog.post", slug=slug, _external=True), updated))
    if "species.detail" in current_app.view_functions:
        for slug, updated in db.session.execute(select(Species.slug, Species.updated_at)
                                                .order_by(Species.slug)):
            entries.append((url_for("species.detail", slug=slug, _external=True), updated))
    return entries


def search_posts(query: str, limit: int, offset: int) -> tuple[list[SearchHit], int]:
    """Find published posts by the words of their title, summary and body; best first."""
    rows, total = search_index.search(db.session, query, limit, offset)
    return [SearchHit(kind="post", title=row.title, url=url_for("blog.post", slug=row.slug),
                      snippet=snippet(row, query, " ".join(filter(None, (getattr(row, "summary", ""),
                                                                         getattr(row, "body", ""))))),
                      score=float(row.score))
            for row in rows], total
