"""Demo blog posts for `flask seed`, and the long post and archive `flask bench-seed` measures."""
import io
from datetime import timedelta

from flask import current_app
from PIL import Image
from sqlalchemy import select

from app.accounts import service as accounts
from app.blog import service
from app.blog.models import Category, Post, Series
from app.core.models import utcnow
from app.extensions import db

BENCH_LONG_SLUG = "a-long-read-on-aroids"
DEMO_POSTS = (
    ("Watering houseplants without drowning them", "care", ["watering", "beginners"],
     "Most houseplants die of kindness. Here is how to tell when a plant is thirsty.",
     "## Check the soil first\n\nPush a finger 3 cm into the pot. Dry? Water. Damp? Wait.\n\n"
     "| Plant | How often |\n|---|---|\n| Succulents | every 2-3 weeks |\n| Ferns | weekly |\n\n"
     "Water until it runs out of the bottom, then empty the saucer.[^1]\n\n"
     "[^1]: Standing water rots roots faster than anything else."),
    ("Propagating pothos in a glass of water", "propagation", ["propagation", "beginners"],
     "Pothos is the easiest plant to multiply. All you need is a node and a jar.",
     "1. Cut below a node.\n2. Put it in water.\n3. Wait for roots about 5 cm long.\n\n"
     "```python\nweeks_to_roots = 3  # give or take\n```\n"),
    ("Reading light: what \"bright indirect\" really means", "care", ["light"],
     "Plant labels love the phrase. Here is what it means on a windowsill.",
     "A spot is **bright indirect** when the plant sees the sky but not the sun's disc.\n\n"
     "> Put your hand between plant and window: a soft shadow is perfect."),
)


def _editor():
    editor = accounts.find_by_email("editor@example.com")
    if editor is None:
        from app.accounts.seed import DEMO_PASSWORD
        editor = accounts.register_user("editor@example.com", "Erin Editor", DEMO_PASSWORD,
                                        role="editor")
    return editor


def _category(name: str) -> Category:
    slug = service.slugify(name)
    found = service.get_category(slug)
    if found is None:
        found = Category(name=name.title(), slug=slug)
        db.session.add(found)
        db.session.commit()
    return found


def seed_demo_posts() -> str:
    """Create the demo categories, series and posts that do not exist yet."""
    # Rendering builds URLs (species cards, images), which needs a request outside the web server.
    with current_app.test_request_context("/"):
        return _seed_demo_posts()


def _seed_demo_posts() -> str:
    editor = _editor()
    series = service.get_series("houseplant-basics")
    if series is None:
        series = Series(title="Houseplant basics", slug="houseplant-basics",
                        description="Start here if your first plant is looking sad.")
        db.session.add(series)
        db.session.commit()
    created = 0
    for order, (title, category, tags, summary, body) in enumerate(DEMO_POSTS, start=1):
        if db.session.scalar(select(Post.id).where(Post.slug == service.slugify(title))):
            continue
        post = service.save_post(None, service.PostData(
            title=title, summary=summary, body=body, tags=", ".join(tags),
            category_ids=[_category(category).id], series_id=series.id, series_order=order,
            featured=order == 1, difficulty="beginner"), editor)
        service.publish_post(post)
        created += 1
    return f"{created} demo posts created"


def _png(width: int, height: int, colour: tuple[int, int, int]) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def long_body(image_urls: list[str] | None = None, words: int = 5000) -> str:
    """Return a Markdown post of about `words` words with headings, code, a table and images."""
    sentence = ("Aroids like a chunky mix of bark, perlite and coir that drains fast yet holds "
                "a little moisture around the roots between waterings. ")
    parts: list[str] = []
    section = 0
    count = 0
    image_urls = image_urls or []
    while count < words:
        section += 1
        parts.append(f"## Part {section}: notes from the greenhouse\n")
        paragraph = sentence * 8
        parts.append(paragraph + "\n")
        parts.append(f"A card for reference: [[species:monstera-deliciosa]] and *emphasis* "
                     f"with a [link](https://example.com/{section}).\n")
        if section % 3 == 0:
            parts.append("```python\ndef water(plant, litres):\n    \"\"\"Water a plant.\"\"\"\n"
                         "    plant.soil += litres\n    return plant\n```\n")
        if section % 4 == 0:
            parts.append("| Mix | Share |\n|---|---|\n| Bark | 40% |\n| Perlite | 30% |\n")
        if image_urls and section % 5 == 0:
            url = image_urls[section // 5 % len(image_urls)]
            parts.append(f'![A leaf]({url} "Figure {section}: a leaf")\n')
        count += len(paragraph.split()) + 12
    return "\n".join(parts)


def seed_bench_posts() -> str:
    """Create the long post with images and 40 short posts the benchmarks read."""
    with current_app.test_request_context("/"):
        _seed_demo_posts()
        return _seed_bench_posts()


def _seed_bench_posts() -> str:
    editor = _editor()
    if db.session.scalar(select(Post.id).where(Post.slug == BENCH_LONG_SLUG)):
        return "bench posts already present"
    from app.species.service import get_or_create_species
    get_or_create_species("Monstera deliciosa", common_names=["Swiss cheese plant"])
    data = service.PostData(title="A long read on aroids", slug=BENCH_LONG_SLUG,
                            summary="Five thousand words on soil, light and patience.",
                            body=long_body(), tags="aroids, soil",
                            category_ids=[_category("care").id])
    post = service.save_post(None, data, editor)
    service.add_image(post, _png(1200, 800, (60, 120, 70)), "cover")
    urls = [service.image_url(service.add_image(post, _png(800, 600, (40 + 30 * i, 140, 90))))
            for i in range(3)]
    data.body = long_body(urls)
    service.save_post(post, data, editor)
    service.publish_post(post)
    now = utcnow()
    for n in range(40):
        extra = service.save_post(None, service.PostData(
            title=f"Garden note {n + 1}", summary="A short note from the garden.",
            body=f"Note {n + 1}: the tomatoes are ripening.", tags="notes"), editor)
        extra.published_at = now - timedelta(days=n + 1)
        service.publish_post(extra)
    return "1 long post and 40 notes created"
