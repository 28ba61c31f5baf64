"""Forum services: threads, replies, edits, reactions, embedding, notifications, moderation."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core import messages
from app.core.models import utcnow
from app.extensions import db
from app.forum import service
from app.forum.models import ModAction, Post, PostRevision, Reaction, Report, Subscription, Thread
from app.notifications.models import Notification
from tests.forum_helpers import SUBJECT_TYPE, category, dangerous_markup, make_thread, req, subjects  # noqa: F401


def _notes(user):
    return [(n.kind, n.text) for n in db.session.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.created_at))]


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_create_thread_stores_first_post_and_author_watches(users, category, req):
    thread = make_thread(category, users["alice"])
    post = db.session.scalar(select(Post).where(Post.thread_id == thread.id))
    assert post.number == 1 and "<p>Help, the leaves turn yellow.</p>" in post.html
    assert thread.post_count == 1 and thread.reply_count == 0
    sub = db.session.scalar(select(Subscription).where(Subscription.thread_id == thread.id))
    assert (sub.user_id, sub.state) == (users["alice"].id, "watch")


def test_create_thread_normalises_tags(users, category, req):
    thread = service.create_thread(category, users["alice"], "Tags", "body",
                                   tags="Monstera, <b>re potting</b>, monstera,,")
    assert thread.tags == ["monstera", "b-re-potting-b"]


def test_reply_numbers_posts_and_counts(users, category, req):
    thread = make_thread(category, users["alice"])
    first = service.add_reply(thread, users["bob"], "Water less.")
    second = service.add_reply(thread, users["alice"], "Thanks!")
    assert (first.number, second.number) == (2, 3)
    db.session.refresh(thread)
    assert thread.reply_count == 2 and thread.last_number == 3


def test_reply_to_locked_thread_is_refused(users, category, req):
    thread = make_thread(category, users["alice"])
    thread.locked = True
    db.session.commit()
    with pytest.raises(service.ForumError) as exc:
        service.add_reply(thread, users["bob"], "Let me in")
    assert (exc.value.status, exc.value.message) == (403, messages.THREAD_LOCKED)
    assert _count(Post) == 1


def test_reply_quoting_deleted_post_is_refused(users, category, req):
    thread = make_thread(category, users["alice"])
    reply = service.add_reply(thread, users["bob"], "Gone soon")
    service.delete_post(reply, users["bob"])
    with pytest.raises(service.ForumError) as exc:
        service.add_reply(thread, users["alice"], "> quoting", quote_post_id=reply.id)
    assert (exc.value.status, exc.value.message) == (422, messages.POST_GONE)


def test_same_nonce_twice_makes_one_post(users, category, req):
    thread = make_thread(category, users["alice"])
    first = service.add_reply(thread, users["bob"], "Once", nonce="abc")
    again = service.add_reply(thread, users["bob"], "Once", nonce="abc")
    assert first.id == again.id
    assert _count(Post) == 2


def test_empty_reply_is_refused(users, category, req):
    thread = make_thread(category, users["alice"])
    with pytest.raises(service.ForumError) as exc:
        service.add_reply(thread, users["bob"], "   ")
    assert exc.value.message == messages.POST_EMPTY


def test_mention_of_existing_user_links_and_unknown_stays_text(users, category, req):
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"], "Ask @Alice or @nobody_here")
    assert 'class="mention"' in post.html and ">@Alice</a>" in post.html
    assert "@nobody_here" in post.html and post.html.count("<a") == 1


def test_edit_keeps_history_and_marks_edited(users, category, req):
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"], "First version")
    service.edit_post(post, users["bob"], "Second version")
    assert post.edited_at is not None and "Second version" in post.html
    revisions = service.post_history(post)
    assert [r.body for r in revisions] == ["First version"]


def test_edit_of_someone_elses_post_is_refused(users, category, req):
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"], "Mine")
    with pytest.raises(service.ForumError) as exc:
        service.edit_post(post, users["alice"], "Hijacked")
    assert exc.value.status == 403
    db.session.refresh(post)
    assert post.body == "Mine" and _count(PostRevision) == 0


def test_soft_delete_keeps_row_and_thread(users, category, req):
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"], "Oops")
    service.delete_post(post, users["bob"])
    assert db.session.get(Post, post.id).deleted_at is not None
    views, _ = service.thread_page(thread, users["alice"])
    assert [v.post.number for v in views] == [1, 2]


def test_reaction_toggles_one_per_kind(users, category, req):
    thread = make_thread(category, users["alice"])
    post = db.session.scalar(select(Post).where(Post.thread_id == thread.id))
    assert service.toggle_reaction(post, users["bob"], "helpful") is True
    assert service.toggle_reaction(post, users["bob"], "like") is True
    assert service.toggle_reaction(post, users["bob"], "helpful") is False
    assert db.session.scalars(select(Reaction.kind)).all() == ["like"]


def test_unknown_reaction_is_refused(users, category, req):
    thread = make_thread(category, users["alice"])
    post = db.session.scalar(select(Post).where(Post.thread_id == thread.id))
    with pytest.raises(service.ForumError):
        service.toggle_reaction(post, users["bob"], "angry")


def test_new_account_links_get_nofollow(users, category, req):
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"], "See [this](https://example.com)")
    assert 'rel="noopener noreferrer nofollow ugc"' in post.html


def test_established_account_links_are_followed(users, category, req):
    thread = make_thread(category, users["alice"])
    users["alice"].created_at = utcnow() - timedelta(days=3)
    db.session.commit()
    post = service.add_reply(thread, users["alice"], "See [this](https://example.com)")
    assert 'rel="noopener noreferrer"' in post.html and "nofollow" not in post.html


def test_xss_in_post_is_sanitised(users, category, req):
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"],
                             '<script>alert(1)</script><a hx-get="/x" href="javascript:alert(1)">x</a>'
                             '\n\n[y](javascript:alert(2)) <img src=x onerror=alert(3)>')
    assert dangerous_markup(post.html) == []
    assert "<script" not in post.html


# Embedded threads


def test_subject_thread_is_created_lazily_on_first_reply(users, subjects, req):
    subject_id = subjects.add()
    assert service.thread_for(SUBJECT_TYPE, subject_id) is None
    thread = service.ensure_subject_thread(SUBJECT_TYPE, subject_id, users["alice"])
    service.add_reply(thread, users["alice"], "First!")
    again = service.ensure_subject_thread(SUBJECT_TYPE, subject_id, users["bob"])
    assert again.id == thread.id and thread.title == "Monstera deliciosa"
    assert _count(Thread) == 1 and thread.reply_count == 1


def test_subject_thread_for_unknown_subject_is_404(users, subjects, req):
    import uuid
    with pytest.raises(service.ForumError) as exc:
        service.ensure_subject_thread(SUBJECT_TYPE, uuid.uuid4(), users["alice"])
    assert exc.value.status == 404 and _count(Thread) == 0


def test_subject_thread_for_unregistered_type_is_404(users, req):
    import uuid
    with pytest.raises(service.ForumError):
        service.ensure_subject_thread("nothing-registered", uuid.uuid4(), users["alice"])


# Notifications: exactly who hears about what


def test_reply_notifies_thread_author_only(users, category, req, make_user):
    carol = make_user(display_name="Carol")
    thread = make_thread(category, users["alice"])
    service.add_reply(thread, users["bob"], "Water less.")
    assert [k for k, _ in _notes(users["alice"])] == ["reply"]
    assert _notes(users["bob"]) == [] and _notes(carol) == []


def test_author_replying_to_own_thread_is_not_notified(users, category, req):
    thread = make_thread(category, users["alice"])
    service.add_reply(thread, users["alice"], "Bump")
    assert _notes(users["alice"]) == []


def test_muted_author_is_not_notified(users, category, req):
    thread = make_thread(category, users["alice"])
    service.set_subscription(thread, users["alice"], "mute")
    service.add_reply(thread, users["bob"], "Hello")
    assert _notes(users["alice"]) == []


def test_watcher_is_notified(users, category, req, make_user):
    carol = make_user(display_name="Carol")
    thread = make_thread(category, users["alice"])
    service.set_subscription(thread, carol, "watch")
    service.add_reply(thread, users["bob"], "Hello")
    assert [k for k, _ in _notes(carol)] == ["reply"]


def test_quote_notifies_quoted_author_once_as_quote(users, category, req, make_user):
    carol = make_user(display_name="Carol")
    thread = make_thread(category, users["alice"])
    quoted = service.add_reply(thread, carol, "Use rain water")
    service.add_reply(thread, users["bob"], "> Use rain water\n\nAgreed", quote_post_id=quoted.id)
    assert [k for k, _ in _notes(carol)] == ["quote"]
    assert [k for k, _ in _notes(users["alice"])] == ["reply", "reply"]


def test_mention_notifies_mentioned_user_once(users, category, req, make_user):
    carol = make_user(display_name="Carol Moss")
    thread = make_thread(category, users["alice"])
    service.add_reply(thread, users["bob"], "What do you think, @CarolMoss and @Alice?")
    assert [k for k, _ in _notes(carol)] == ["mention"]
    assert [k for k, _ in _notes(users["alice"])] == ["mention"]


def test_accepted_answer_notifies_its_author(users, category, req):
    thread = make_thread(category, users["alice"])
    answer = service.add_reply(thread, users["bob"], "Too much water.")
    service.accept_answer(answer, users["alice"])
    assert thread.accepted_post_id == answer.id and thread.solved
    assert [k for k, _ in _notes(users["bob"])] == ["accepted"]


def test_only_thread_author_or_moderator_accepts(users, category, req, make_user):
    carol = make_user(display_name="Carol")
    thread = make_thread(category, users["alice"])
    answer = service.add_reply(thread, users["bob"], "Too much water.")
    with pytest.raises(service.ForumError):
        service.accept_answer(answer, carol)
    assert thread.accepted_post_id is None


# Moderation


def test_three_distinct_reports_hide_post(users, category, req, make_user):
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"], "Buy cheap pills")
    reporters = [make_user() for _ in range(3)]
    service.report_post(post, reporters[0])
    service.report_post(post, reporters[1])
    assert not post.hidden
    service.report_post(post, reporters[2])
    assert post.hidden and post.hidden_reason == "reported"


def test_same_reporter_twice_counts_once(users, category, req):
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"], "Hmm")
    assert service.report_post(post, users["alice"]) is True
    assert service.report_post(post, users["alice"]) is False
    assert _count(Report) == 1 and not post.hidden


def test_reviewed_post_is_not_hidden_again_by_reports(users, category, req, make_user):
    moderator = make_user(role="moderator")
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"], "Fine really")
    for _ in range(3):
        service.report_post(post, make_user())
    service.moderate_post(post, moderator, "restore", "not spam")
    assert not post.hidden
    for _ in range(3):
        service.report_post(post, make_user())
    assert not post.hidden


def test_moderator_actions_are_logged_and_author_notified(users, category, req, make_user):
    moderator = make_user(role="moderator", display_name="Mo")
    thread = make_thread(category, users["alice"])
    service.moderate_thread(thread, moderator, "lock", "heated")
    service.moderate_thread(thread, moderator, "pin")
    assert thread.locked and thread.pinned
    log = db.session.scalars(select(ModAction).order_by(ModAction.created_at)).all()
    assert [(a.action, a.reason, a.moderator_id) for a in log] == [
        ("lock", "heated", moderator.id), ("pin", "", moderator.id)]
    assert [k for k, _ in _notes(users["alice"])] == ["moderation", "moderation"]


def test_member_cannot_moderate(users, category, req):
    thread = make_thread(category, users["alice"])
    with pytest.raises(service.ForumError) as exc:
        service.moderate_thread(thread, users["bob"], "lock")
    assert exc.value.status == 403 and not thread.locked and _count(ModAction) == 0


def test_move_thread_changes_category(users, category, req, make_user):
    from app.forum.models import Category
    moderator = make_user(role="moderator")
    thread = make_thread(category, users["alice"])
    other = db.session.scalars(select(Category).where(Category.id != category.id)).first()
    service.moderate_thread(thread, moderator, "move", "wrong room", other)
    assert thread.category_id == other.id


def test_hidden_thread_is_404_for_members(users, category, req, make_user):
    moderator = make_user(role="moderator")
    thread = make_thread(category, users["alice"])
    service.moderate_thread(thread, moderator, "hide", "spam")
    with pytest.raises(service.ForumError):
        service.get_thread(thread.id, users["bob"])
    assert service.get_thread(thread.id, moderator).id == thread.id


def test_staff_category_is_invisible_to_members(users, req, make_user):
    from app.forum.models import Category
    staff = Category(slug="staff", name="Staff room", min_role="moderator")
    db.session.add(staff)
    db.session.commit()
    thread = service.create_thread(staff, make_user(role="moderator"), "Secret", "shh")
    with pytest.raises(service.ForumError):
        service.get_thread(thread.id, users["bob"])
    assert staff not in service.list_categories(users["bob"])


def test_search_finds_thread_by_post_text(users, category, req):
    thread = make_thread(category, users["alice"], title="Tomato trouble", body="Blossom end rot")
    make_thread(category, users["alice"], title="Other", body="Nothing here")
    ranked, total = service.search_threads("blossom", 10, 0)
    assert total == 1 and ranked[0].id == thread.id
