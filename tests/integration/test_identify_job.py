"""The identification job: cache, stampede lock, provider faults, retries, sweeping, events, species links."""
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from markupsafe import escape
import requests
from sqlalchemy import func, select

from app.core import fragments, messages
from app.core.models import utcnow
from app.extensions import db
from app.identify import service
from app.identify.metrics import CACHE
from app.identify.models import Identification
from app.providers.breaker import CircuitBreaker
from app.species.models import Species, SpeciesDailyCount
from tests import image_factory as images
from tests.forum_helpers import QueryCounter
from tests.identify_helpers import encode_multipart, post_upload


@pytest.fixture
def ready(app_ctx, fake_providers):
    return fake_providers


def _only():
    return db.session.scalars(select(Identification).order_by(Identification.created_at)).all()


def test_same_photo_again_is_answered_from_cache_without_provider_calls(client, ready):
    post_upload(client, [images.jpeg()])
    hits_before = CACHE.labels("hit")._value.get()
    post_upload(client, [images.jpeg()])
    first, second = _only()
    assert ready.hits("plantid") == 1 and ready.hits("plantnet") == 1
    assert second.status == "completed" and second.from_cache
    assert [s.scientific_name for s in second.suggestions] == [s.scientific_name for s in first.suggestions]
    assert CACHE.labels("hit")._value.get() == hits_before + 1


def test_cache_entry_lives_for_a_day(app, client, ready):
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    ttl = app.extensions["redis"].ttl(service.CACHE_PREFIX + ident.cache_key)
    assert 24 * 3600 - 60 < ttl <= 24 * 3600


def test_top_species_is_linked_then_counted_once_by_the_periodic_count(client, ready):
    post_upload(client, [images.jpeg()])
    post_upload(client, [images.jpeg()])  # the cache answers the second: it counts too
    first, second = _only()
    top = db.session.get(Species, first.suggestions[0].species_id)
    assert top.scientific_name == first.suggestions[0].scientific_name
    assert all(s.species_id for s in first.suggestions)
    # Counting is batched off the request and the job: nothing counted yet.
    assert top.identification_count == 0 and first.counted_at is None
    assert service.count_finished_identifications() == 2
    assert service.count_finished_identifications() == 0  # counted once, not again
    db.session.expire_all()
    assert top.identification_count == 2
    daily = db.session.scalars(select(SpeciesDailyCount)).all()
    assert [(d.species_id, d.day, d.count) for d in daily] == [(top.id, first.finished_at.date(), 2)]
    assert first.counted_at is not None and second.counted_at is not None


def test_count_adds_to_existing_daily_rows_and_skips_failures_and_empty_results(client, ready):
    post_upload(client, [images.jpeg()])
    service.count_finished_identifications()
    ready.set_mode("plantid", "500")
    ready.set_mode("plantnet", "500")
    post_upload(client, [images.png()])  # both down: failed, never counted
    ready.set_mode("plantid", "ok")
    ready.set_mode("plantnet", "ok")
    post_upload(client, [images.jpeg()])
    first, failed, third = _only()
    empty = Identification(status="completed", cache_key="none", finished_at=utcnow(), result=[])
    db.session.add(empty)
    db.session.commit()
    assert service.count_finished_identifications() == 2  # the third and the one without suggestions
    db.session.expire_all()
    assert failed.status == "failed" and failed.counted_at is None
    assert empty.counted_at is not None
    top = db.session.get(Species, first.suggestions[0].species_id)
    assert top.identification_count == 2
    assert db.session.scalars(select(SpeciesDailyCount.count)).all() == [2]


def test_count_invalidates_species_fragments_only_when_it_counted(client, ready):
    post_upload(client, [images.jpeg()])
    renders = []
    cached = lambda: fragments.cached_fragment("species", "probe", lambda: renders.append(1) or "html")  # noqa: E731
    cached()
    service.count_finished_identifications()
    cached()
    assert len(renders) == 2  # the count made the cached species HTML stale
    service.count_finished_identifications()
    cached()
    assert len(renders) == 2  # nothing counted: the cache stays


def test_count_runs_in_batches(client, ready):
    for position in range(3):
        db.session.add(Identification(status="completed", cache_key=f"k{position}", result=[],
                                      finished_at=utcnow() - timedelta(minutes=position)))
    db.session.commit()
    assert service.count_finished_identifications(batch=2) == 3
    assert db.session.scalar(select(func.count()).where(Identification.counted_at.is_(None))) == 0


def test_counting_is_a_registered_periodic_job(app):
    run, seconds, _ = app.extensions["periodic_jobs"]["identify-count"]
    assert run is service.count_finished_identifications and seconds == app.config["IDENTIFY_COUNT_SECONDS"]


@pytest.mark.parametrize(("mode", "reason"), [("500", "had a problem on its side"), ("slow", "took too long to answer"),
                                              ("429", "has no identifications left for now"),
                                              ("401", "did not accept this site's key"),
                                              ("bad_json", "sent an answer we could not read"),
                                              ("reset", "could not be reached")])
def test_one_provider_down_gives_a_partial_result_saying_why(client, ready, mode, reason):
    ready.set_mode("plantnet", mode)
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    assert ident.status == "partial" and ident.partial
    assert ident.error == f"Partial result: Pl@ntNet {reason}, so these suggestions come from Plant.id only."
    assert ident.suggestions and all(s.providers == ["plantid"] for s in ident.suggestions)
    page = client.get(f"/identifications/{ident.id}")
    assert "Partial result" in page.text


def test_partial_result_is_not_cached(app, client, ready):
    ready.set_mode("plantid", "500")
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    assert app.extensions["redis"].get(service.CACHE_PREFIX + ident.cache_key) is None


def test_plantnet_not_found_counts_as_an_answer_not_a_failure(client, ready):
    ready.set_mode("plantnet", "not_found")
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    assert ident.status == "completed" and not ident.partial
    assert ident.providers == ["plantid", "plantnet"]


def test_both_providers_down_fails_clearly_with_a_retry_button(client, ready, auth, users):
    auth.login()
    ready.set_mode("plantid", "500")
    ready.set_mode("plantnet", "500")
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    assert ident.status == "failed" and ident.error == (
        "We couldn't get an identification this time: Plant.id had a problem on its side; Pl@ntNet had a "
        "problem on its side. Your photo is saved and we'll retry automatically.")
    page = client.get(f"/identifications/{ident.id}")
    assert "Your photo is saved" in page.text
    assert f"/identifications/{ident.id}/retry" in page.text
    # A failure has nothing to share.
    assert f"/identifications/{ident.id}/visibility" not in page.text


def test_both_down_schedules_an_automatic_retry(app, client, ready):
    from rq.registry import ScheduledJobRegistry
    ready.set_mode("plantid", "500")
    ready.set_mode("plantnet", "500")
    post_upload(client, [images.jpeg()])
    registry = ScheduledJobRegistry(queue=app.extensions["queues"]["fast"])
    assert registry.count == 1
    # The page says so, and keeps asking (every 10 s) so that it shows the retry when it starts.
    ident = _only()[0]
    progress = f"/identifications/{ident.id}/progress"
    page = client.get(f"/identifications/{ident.id}").text
    assert str(escape(messages.RETRY_AUTOMATICALLY)) in page
    assert f'hx-get="{progress}" hx-trigger="every 10s"' in page
    assert '<meta http-equiv="refresh" content="10">' in page
    assert client.get(progress).status_code == 200
    # Until the longest retry delay, with its grace, has passed.
    ident.finished_at = utcnow() - timedelta(seconds=max(service.AUTO_RETRY_DELAYS)) - service.RETRY_GRACE
    db.session.commit()
    assert client.get(progress).status_code == 286
    assert progress not in client.get(f"/identifications/{ident.id}").text


def test_a_failure_no_retry_can_change_promises_no_automatic_retry(app, client, ready):
    from rq.registry import ScheduledJobRegistry
    ready.set_mode("plantid", "401")
    ready.set_mode("plantnet", "401")
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    assert ident.status == "failed" and ident.error == (
        "We couldn't get an identification this time: Plant.id did not accept this site's key; Pl@ntNet did "
        "not accept this site's key. Your photo is saved: press Retry to try again later.")
    assert ScheduledJobRegistry(queue=app.extensions["queues"]["fast"]).count == 0
    page = client.get(f"/identifications/{ident.id}").text
    assert str(escape(messages.RETRY_LATER)) in page and "retry automatically" not in page
    assert f"/identifications/{ident.id}/progress" not in page
    assert client.get(f"/identifications/{ident.id}/progress").status_code == 286


def test_once_the_automatic_retries_are_used_up_none_is_promised(app, client, ready):
    from rq.registry import ScheduledJobRegistry

    from tests.identify_helpers import page_token
    ready.set_mode("plantid", "500")
    ready.set_mode("plantnet", "500")
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    registry = ScheduledJobRegistry(queue=app.extensions["queues"]["fast"])
    errors = [ident.error]
    for _ in service.AUTO_RETRY_DELAYS:
        client.post(f"/identifications/{ident.id}/retry", data={"csrf_token": page_token(client)})
        db.session.refresh(ident)
        errors.append(ident.error)
    assert ident.attempts == len(service.AUTO_RETRY_DELAYS) + 1
    endings = [messages.RETRY_AUTOMATICALLY] * len(service.AUTO_RETRY_DELAYS) + [messages.RETRY_LATER]
    assert [error.endswith(ending) for error, ending in zip(errors, endings, strict=True)] == [True] * len(endings)
    assert registry.count == len(service.AUTO_RETRY_DELAYS)


def test_a_retry_that_cannot_be_scheduled_is_not_promised(app, client, ready, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def refuse(*args, **kwargs):
        raise RedisConnectionError("down")

    ready.set_mode("plantid", "500")
    ready.set_mode("plantnet", "500")
    monkeypatch.setattr(app.extensions["queues"]["fast"], "enqueue_in", refuse)
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    db.session.refresh(ident)
    assert ident.status == "failed" and ident.error.endswith(messages.RETRY_LATER)


def test_retry_after_both_down_completes_from_stored_photos(app, client, ready):
    from tests.identify_helpers import page_token
    ready.set_mode("plantid", "500")
    ready.set_mode("plantnet", "500")
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    ready.reset()
    response = client.post(f"/identifications/{ident.id}/retry", data={"csrf_token": page_token(client)})
    assert response.status_code == 303
    db.session.refresh(ident)
    assert ident.status == "completed" and ident.attempts == 2
    assert ready.hits("plantid") == 1


def _events(pubsub) -> list[tuple[str, str | None]]:
    events = []
    while (message := pubsub.get_message(timeout=0.2)) is not None:
        if message["type"] == "pmessage":
            body = json.loads(message["data"])
            events.append((body["event"], body["provider"]))
    return events


def test_a_new_upload_is_not_announced_as_queued_but_a_retry_is(app, client, ready):
    from tests.identify_helpers import page_token
    pubsub = app.extensions["redis"].pubsub()
    pubsub.psubscribe(service.CHANNEL_PREFIX + "*")
    try:
        ready.set_mode("plantid", "500")
        ready.set_mode("plantnet", "500")
        post_upload(client, [images.jpeg()])
        # Nobody can be listening to an id made a moment ago; its automatic retry is announced.
        uploaded = _events(pubsub)
        assert uploaded[0] == ("running", None) and uploaded[-2:] == [("failed", None), ("queued", None)]
        ident = _only()[0]
        ready.reset()
        client.post(f"/identifications/{ident.id}/retry", data={"csrf_token": page_token(client)})
        # The failed page showing it hears that it is queued again.
        assert _events(pubsub)[0] == ("queued", None)
    finally:
        pubsub.close()


def test_retry_by_someone_else_is_404(app, client, ready, users, auth):
    from tests.identify_helpers import page_token
    ready.set_mode("plantid", "500")
    ready.set_mode("plantnet", "500")
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    other = app.test_client()
    token = page_token(other)
    assert other.post(f"/identifications/{ident.id}/retry", data={"csrf_token": token}).status_code == 404


def test_open_circuit_makes_no_call(app, client, ready):
    CircuitBreaker(app.extensions["redis"], "plantnet").open_now(60)
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    assert ready.hits("plantnet") == 0
    assert ident.status == "partial"


def test_no_provider_configured_fails_the_job(app, client, ready, monkeypatch):
    post_upload(client, [images.jpeg(color=(1, 2, 3))])
    ident = _only()[0]
    ident.status = "failed"
    db.session.commit()
    monkeypatch.setitem(app.config, "PLANTID_API_KEY", None)
    monkeypatch.setitem(app.config, "PLANTNET_API_KEY", None)
    app.extensions["redis"].delete(service.CACHE_PREFIX + ident.cache_key)
    service.run_identification(ident.id)
    assert ident.status == "failed" and ident.error == messages.IDENTIFY_NO_PROVIDER


def test_dead_lock_holder_expires_and_next_proceeds(app, client, ready, monkeypatch):
    monkeypatch.setitem(app.config, "IDENTIFY_LOCK_SECONDS", 1)
    photo = images.jpeg(color=(5, 90, 5))
    from app.core.images import clean_image
    import io
    key = service.cache_key_for([clean_image(io.BytesIO(photo))], ["auto"])
    # A holder that never releases (its worker died): only the timeout frees the key.
    app.extensions["redis"].lock(service.LOCK_PREFIX + key, timeout=1).acquire()
    started = time.monotonic()
    post_upload(client, [photo])
    assert _only()[0].status == "completed"
    assert ready.hits("plantid") == 1
    assert 0.5 < time.monotonic() - started < 5


def test_species_of_the_first_answer_are_looked_up_while_the_other_is_awaited(client, ready):
    ready.set_mode("plantid", "ok", delay=0.4)
    with QueryCounter(db.engine) as queries:
        post_upload(client, [images.jpeg(color=(41, 141, 41))])
    ident = _only()[0]
    assert ident.status == "completed" and all(s.species_id for s in ident.suggestions)
    looked_up = [at for at, statement, _ in queries.statements if statement.startswith("SELECT species.")]
    finished = max(at for at, statement, _ in queries.statements
                   if statement.startswith("INSERT INTO identification_suggestion"))
    # Pl@ntNet answered at once: its species were read during Plant.id's 0.4 s, not after it.
    assert looked_up and finished - looked_up[0] > 0.3


def test_a_database_error_while_the_other_answer_is_awaited_costs_nothing(client, ready, monkeypatch):
    from sqlalchemy.exc import OperationalError
    ready.set_mode("plantid", "ok", delay=0.2)
    calls = []

    def down(names, **kwargs):
        calls.append(list(names))
        raise OperationalError("SELECT species", {}, Exception("connection lost"))

    monkeypatch.setattr(service, "species_named", down)
    post_upload(client, [images.jpeg(color=(42, 142, 42))])
    ident = _only()[0]
    # The early lookup failed; the species were looked up with the rest once Plant.id answered.
    assert calls and ident.status == "completed" and all(s.species_id for s in ident.suggestions)


def test_twenty_concurrent_uploads_make_one_call_per_provider(app, live_server, ready):
    ready.set_mode("plantid", "ok", delay=0.3)
    ready.set_mode("plantnet", "ok", delay=0.2)
    photo = images.jpeg(color=(40, 140, 40))
    sessions = []
    for _ in range(20):
        session = requests.Session()
        html = session.get(f"{live_server}/identify", timeout=10).text
        import re
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        sessions.append((session, token))
    statuses = []

    def upload(session, token):
        body, content_type = encode_multipart([("photo", "p.jpg", photo), ("csrf_token", None, token.encode())])
        response = session.post(f"{live_server}/identify", data=body, headers={"Content-Type": content_type},
                                allow_redirects=False, timeout=60)
        statuses.append(response.status_code)
        session.close()

    threads = [threading.Thread(target=upload, args=pair) for pair in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert statuses == [303] * 20
    assert ready.hits("plantid") == 1 and ready.hits("plantnet") == 1
    db.session.expire_all()
    assert {i.status for i in _only()} == {"completed"}


def test_stuck_identification_is_marked_failed_with_photos_kept(app, client, ready):
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    ident.status = "running"
    ident.finished_at = None
    db.session.commit()
    db.session.execute(Identification.__table__.update().values(updated_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    response = client.get(f"/identifications/{ident.id}/progress")
    assert response.status_code == 286
    db.session.refresh(ident)
    assert ident.status == "failed" and ident.error == messages.IDENTIFY_STUCK
    assert app.extensions["storage"].exists(ident.images[0].storage_key)


def test_recent_running_identification_is_left_alone(client, ready):
    post_upload(client, [images.jpeg()])
    ident = _only()[0]
    ident.status = "running"
    db.session.commit()
    assert client.get(f"/identifications/{ident.id}/progress").status_code == 200
    db.session.refresh(ident)
    assert ident.status == "running"


def test_job_publishes_progress_events_in_order(app, client, ready):
    response = post_upload(client, [images.jpeg(color=(9, 9, 200))])
    assert response.status_code == 303, response.text
    ident = _only()[0]
    ident.status = "failed"
    db.session.commit()
    app.extensions["redis"].delete(service.CACHE_PREFIX + ident.cache_key)
    pubsub = app.extensions["redis"].pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(service.channel(ident.id))
    service.run_identification(ident.id)
    events = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and (not events or events[-1]["event"] != "completed"):
        message = pubsub.get_message(timeout=0.1)
        if message:
            events.append(json.loads(message["data"]))
    pubsub.close()
    names = [(e["event"], e["provider"]) for e in events]
    assert names[0] == ("running", None) and names[-1] == ("completed", None)
    assert {("calling", "plantid"), ("calling", "plantnet")} <= set(names)
    # The first answer is drawn as a step; the last is followed at once by the end, which draws it.
    done = [provider for event, provider in names if event == "done"]
    assert len(done) == 1 and done[0] in ("plantid", "plantnet")
    assert names.index(("done", done[0])) < len(names) - 1


def test_enrichment_fills_care_text_for_the_top_species(client, ready):
    post_upload(client, [images.jpeg()])
    top = db.session.get(Species, _only()[0].suggestions[0].species_id)
    db.session.refresh(top)
    assert top.care_text and top.enriched_at
    assert ready.hits("openai") == 1


def test_enrichment_is_queued_only_while_it_can_add_something(app, client, ready, monkeypatch):
    from rq import Queue
    redis = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "queues", {n: Queue(n, connection=redis) for n in ("fast", "slow")})
    slow = app.extensions["queues"]["slow"]
    photo = images.jpeg(color=(140, 30, 200))
    post_upload(client, [photo])
    service.run_identification(_only()[0].id)
    top = db.session.get(Species, _only()[0].suggestions[0].species_id)
    assert [job.args for job in slow.jobs] == [(str(top.id), False)]  # never enriched
    slow.empty()
    top.enriched_at, top.care_text = utcnow(), {"overview": "Bright, indirect light."}
    db.session.commit()
    post_upload(client, [photo])  # the cache answers: same top species, enriched
    assert slow.count == 0
    top.care_text = None  # its care text failed a moment ago: not asked again at once
    db.session.commit()
    post_upload(client, [photo])
    assert slow.count == 0
    top.enriched_at = utcnow() - timedelta(minutes=16)  # ... but again after a while
    db.session.commit()
    post_upload(client, [photo])
    assert [job.args for job in slow.jobs] == [(str(top.id), False)]
    assert len(_only()) == 4 and all(i.status == "completed" for i in _only())


def test_same_bytes_again_skip_cleaning_and_share_the_stored_photo(app, client, ready, monkeypatch):
    photo = images.jpeg(color=(3, 120, 60))
    post_upload(client, [photo])

    def must_not_clean(*args, **kwargs):
        raise AssertionError("cleaned twice")

    monkeypatch.setattr("app.identify.uploads.prepare_image", must_not_clean)
    response = post_upload(client, [photo])
    assert response.status_code == 303
    first, second = _only()
    assert second.status == "completed" and second.from_cache
    assert second.images[0].storage_key == first.images[0].storage_key
    assert ready.hits("plantid") == 1


def test_other_bytes_of_the_same_photo_are_answered_from_the_cache_with_a_thumbnail(app, client, ready):
    post_upload(client, [images.jpeg(color=(90, 30, 200))])
    # The same photo with a comment: other bytes as sent, the same bytes once cleaned.
    post_upload(client, [images.jpeg_with_segment(0xFE, b"taken at noon", images.jpeg(color=(90, 30, 200)))])
    first, second = _only()
    assert second.status == "completed" and second.from_cache and second.cache_key == first.cache_key
    assert second.images[0].storage_key != first.images[0].storage_key
    assert ready.hits("plantid") == 1
    assert app.extensions["storage"].exists(second.images[0].thumbnail_key)


def test_other_bytes_of_the_same_photo_are_shown_in_place_for_the_script(app, client, ready):
    post_upload(client, [images.jpeg(color=(90, 30, 201))])
    response = post_upload(client, [images.jpeg_with_segment(0xFE, b"taken at noon", images.jpeg(color=(90, 30, 201)))],
                           headers={"HX-Request": "true"})
    first, second = _only()
    assert response.status_code == 200 and response.headers["HX-Push-Url"] == f"/identifications/{second.id}"
    assert 'data-status="completed"' in response.text
    assert first.suggestions[0].scientific_name in response.text
    assert ready.hits("plantid") == 1


def test_same_bytes_with_another_organ_are_cleaned_again(client, ready):
    photo = images.jpeg(color=(3, 121, 60))
    post_upload(client, [photo], organ="leaf")
    post_upload(client, [photo], organ="flower")
    first, second = _only()
    assert second.images[0].storage_key != first.images[0].storage_key


def test_cache_hit_inserts_its_row_once_already_final(app, client, ready):
    post_upload(client, [images.jpeg()])
    with QueryCounter(db.engine) as queries:
        post_upload(client, [images.jpeg()])
    statements = [statement for _, statement, _ in queries.statements]
    first, second = _only()
    assert second.status == "completed" and second.from_cache
    assert not [s for s in statements if s.startswith("UPDATE identification ")]
    assert not [s for s in statements if s.startswith("SELECT identification_suggestion")]
    # One INSERT a table: the photo and the suggestions go in one statement each.
    inserts = [s.split()[2] for s in statements if s.startswith("INSERT")]
    assert inserts == ["identification", "identification_image", "identification_suggestion"]
    assert second.attempts == 0 and second.is_public is False and second.finished_at and second.created_at
    assert [s.species_id for s in second.suggestions] == [s.species_id for s in first.suggestions]
    assert all(s.species_id for s in second.suggestions)
    assert len({s.id for s in second.suggestions}) == len(second.suggestions) > 1
    assert second.images[0].id and second.images[0].storage_key == first.images[0].storage_key
    # No health check asked: SQL NULL, not a JSON null.
    assert db.session.scalar(select(func.count()).select_from(Identification)
                             .where(Identification.id == second.id, Identification.health.is_(None))) == 1


def test_cache_hit_adds_back_a_species_deleted_since_and_links_it(client, ready):
    photo = images.jpeg(color=(77, 7, 170))
    post_upload(client, [photo])
    first = _only()[0]
    name = first.suggestions[0].scientific_name
    db.session.delete(db.session.get(Species, first.suggestions[0].species_id))
    db.session.commit()
    response = post_upload(client, [photo], headers={"HX-Request": "true"})
    assert response.status_code == 200 and name in response.text
    second = _only()[1]
    again = db.session.scalars(select(Species).where(Species.scientific_name == name)).one()
    assert second.from_cache and second.suggestions[0].species_id == again.id


def test_sweep_fails_only_identifications_stuck_past_the_limit(app, client, ready):
    post_upload(client, [images.jpeg(color=(1, 2, 3))])
    post_upload(client, [images.jpeg(color=(200, 2, 3))])
    stuck, recent = _only()
    stuck.status, recent.status = "running", "queued"
    db.session.commit()
    db.session.execute(Identification.__table__.update().where(Identification.id == stuck.id)
                       .values(updated_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    assert service.sweep_stuck_identifications() == 1
    db.session.expire_all()
    assert stuck.status == "failed" and stuck.error == messages.IDENTIFY_STUCK
    assert recent.status == "queued"


def test_provider_clients_are_reused_between_jobs(client, ready, monkeypatch):
    built = []
    real = service.build_providers

    def counting(settings, redis):
        built.append(1)
        return real(settings, redis)

    monkeypatch.setattr(service, "build_providers", counting)
    monkeypatch.setattr(service, "_IDLE_PROVIDERS", {})
    post_upload(client, [images.jpeg(color=(10, 200, 10))])
    post_upload(client, [images.jpeg(color=(200, 10, 200))])
    assert [i.status for i in _only()] == ["completed", "completed"]
    assert ready.hits("plantid") == 2 and ready.hits("plantnet") == 2
    assert built == [1]


def test_provider_calls_run_in_threads_kept_between_jobs(client, ready):
    post_upload(client, [images.jpeg(color=(10, 20, 30))])
    before = {t.ident for t in threading.enumerate() if t.name.startswith("identify")}
    post_upload(client, [images.jpeg(color=(30, 20, 10))])
    after = {t.ident for t in threading.enumerate() if t.name.startswith("identify")}
    assert [i.status for i in _only()] == ["completed", "completed"]
    assert ready.hits("plantid") == 2 and ready.hits("plantnet") == 2
    # The first job's threads outlive it, ready for the next (a pool per job leaves none behind). The
    # next may still add one: a thread counts as idle a moment after its call has returned.
    assert before and before <= after and len(after) <= service._CALL_THREADS


def test_health_check_when_asked_is_stored_shown_and_cached_apart(client, ready):
    post_upload(client, [images.jpeg()], extra={"health": "1"})
    ident = _only()[0]
    assert ident.wants_health and ident.status == "completed"
    assert ready.last_request("plantid").json()["health"] == "all"
    assert ident.health["is_healthy"] is False
    assert ident.health["diseases"][0]["name"] == "water excess or uneven watering"
    page = client.get(f"/identifications/{ident.id}").text
    assert "Health check" in page and "May need care" in page
    assert "Water excess or uneven watering" in page and "Use a pot with drainage holes." in page
    # The same photo without the check is another question: asked anew, answered without a health section.
    post_upload(client, [images.jpeg()])
    plain = _only()[1]
    assert ready.hits("plantid") == 2 and not plain.from_cache
    assert plain.health is None and "Health check" not in client.get(f"/identifications/{plain.id}").text
    # ... and with the check again, the cache answers it, health included.
    post_upload(client, [images.jpeg()], extra={"health": "1"})
    again = _only()[2]
    assert ready.hits("plantid") == 2 and again.from_cache and again.health == ident.health


def test_health_check_says_so_when_plant_id_does_not_answer(client, ready):
    ready.set_mode("plantid", "500")
    post_upload(client, [images.jpeg()], extra={"health": "1"})
    ident = _only()[0]
    assert ident.status == "partial" and ident.wants_health and ident.health is None
    page = client.get(f"/identifications/{ident.id}").text
    assert str(escape(messages.HEALTH_UNAVAILABLE)) in page


def test_upload_form_offers_the_health_check(client, ready):
    page = client.get("/identify").text
    assert 'name="health"' in page and 'type="checkbox"' in page


def _unsaved_twin(app, first):
    """A new, uncommitted identification of first's stored photos, with nothing cached for it."""
    from app.identify.models import IdentificationImage
    app.extensions["redis"].delete(service.CACHE_PREFIX + first.cache_key)
    twin = Identification(id=uuid.uuid4(), status="queued", cache_key=first.cache_key,
                          providers=["plantid", "plantnet"])
    for image in first.images:
        twin.images.append(IdentificationImage(
            position=image.position, organ=image.organ, content_type=image.content_type, sha256=image.sha256,
            width=image.width, height=image.height, storage_key=image.storage_key,
            thumbnail_key=f"identify/{twin.id}/{image.position}-thumb.jpg"))
    return twin


def test_job_queued_before_the_upload_commits_waits_for_its_row(app, client, ready, monkeypatch):
    post_upload(client, [images.jpeg(color=(40, 160, 40))])
    first = _only()[0]
    twin = _unsaved_twin(app, first)
    sent = service._Work.of(twin).to_dict()
    real_sleep, naps, job_thread = time.sleep, [], threading.current_thread()

    def commit_during_the_wait(seconds):
        if threading.current_thread() is not job_thread:
            return real_sleep(seconds)  # another thread's nap (time.sleep is patched for all of them)
        # The row is not there when the job first looks: the upload commits while it waits.
        if not naps:
            db.session.add(twin)
            db.session.commit()
        naps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(service.time, "sleep", commit_during_the_wait)
    assert service.run_identification(twin.id, sent) == "completed"
    assert naps and ready.hits("plantid") == 2
    db.session.expire_all()
    stored = db.session.get(Identification, twin.id)
    assert stored.status == "completed" and stored.attempts == 1
    assert [s.scientific_name for s in stored.suggestions] == [s.scientific_name for s in first.suggestions]
    assert app.extensions["storage"].exists(stored.images[0].thumbnail_key)


def test_job_of_a_withdrawn_upload_writes_nothing(app, client, ready, monkeypatch):
    monkeypatch.setitem(app.config, "IDENTIFY_ROW_WAIT_SECONDS", 0.2)
    post_upload(client, [images.jpeg(color=(160, 40, 40))])
    first = _only()[0]
    twin = _unsaved_twin(app, first)  # never committed: its request failed after queueing the job
    sent = service._Work.of(twin).to_dict()
    db.session.expunge_all()
    assert service.run_identification(twin.id, sent) is None
    assert ready.hits("plantid") == 2  # the calls were under way before the row was looked for
    assert len(_only()) == 1
    assert not app.extensions["storage"].exists(twin.images[0].thumbnail_key)


def test_bookkeeping_waits_until_the_provider_requests_are_out(client, ready, monkeypatch):
    from app.providers.plantid import PlantIdProvider
    built, marked = [], []
    real_identify, real_mark = PlantIdProvider._identify, service._mark_running

    def slow_to_build(self, body):
        time.sleep(0.3)  # a request that takes a while to build: its thread needs the GIL meanwhile
        built.append(time.monotonic())
        return real_identify(self, body)
    monkeypatch.setattr(PlantIdProvider, "_identify", slow_to_build)
    monkeypatch.setattr(service, "_mark_running", lambda ident: (marked.append(time.monotonic()), real_mark(ident)))
    post_upload(client, [images.jpeg(color=(140, 60, 20))])
    assert _only()[0].status == "completed"
    assert built and marked and marked[0] >= built[0]


def test_bookkeeping_waits_for_the_requests_only_so_long(client, ready, monkeypatch):
    from app.providers.plantid import PlantIdProvider
    built, marked = [], []
    real_identify, real_mark = PlantIdProvider._identify, service._mark_running

    def stuck_before_sending(self, body):
        time.sleep(0.6)
        built.append(time.monotonic())
        return real_identify(self, body)
    monkeypatch.setattr(service, "_SEND_WAIT", 0.1)
    monkeypatch.setattr(PlantIdProvider, "_identify", stuck_before_sending)
    monkeypatch.setattr(service, "_mark_running", lambda ident: (marked.append(time.monotonic()), real_mark(ident)))
    post_upload(client, [images.jpeg(color=(20, 60, 140))])
    assert _only()[0].status == "completed"
    assert built and marked and marked[0] < built[0]


@pytest.mark.parametrize(("retries_left", "message"),
                         [(1, messages.IDENTIFY_CRASHED.format(then=messages.RETRY_AUTOMATICALLY)),
                          (0, messages.IDENTIFY_CRASHED.format(then=messages.RETRY_LATER)),
                          (None, messages.IDENTIFY_CRASHED.format(then=messages.RETRY_LATER))])
def test_a_job_that_breaks_promises_a_retry_only_while_rq_has_one_left(app, client, ready, monkeypatch,
                                                                       retries_left, message):
    from types import SimpleNamespace
    post_upload(client, [images.jpeg(color=(10, 200, 90))])
    ident = _only()[0]
    ident.status = "queued"  # as RQ runs it again
    db.session.commit()
    app.extensions["redis"].delete(service.CACHE_PREFIX + ident.cache_key)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away mid-job")

    monkeypatch.setattr(service, "_finish", broken)
    job = SimpleNamespace(id="rerun", retries_left=retries_left) if retries_left is not None else None
    monkeypatch.setattr(service, "get_current_job", lambda: job)
    with pytest.raises(RuntimeError):
        service.run_identification(ident.id)
    db.session.expire_all()
    assert (ident.status, ident.error) == ("failed", message)


def test_a_demo_answer_never_answers_a_site_with_real_keys(app, client, ready, monkeypatch):
    photo = images.jpeg(color=(90, 60, 30))
    post_upload(client, [photo])
    post_upload(client, [photo])
    demo, again = _only()
    assert demo.demo and again.from_cache and again.demo
    # The same Redis, now with real keys (the fakes refuse them): no demo answer from the cache.
    monkeypatch.setitem(app.config, "PLANTID_API_KEY", "a-real-plantid-key")
    monkeypatch.setitem(app.config, "PLANTNET_API_KEY", "a-real-plantnet-key")
    post_upload(client, [photo])
    real = _only()[2]
    assert not real.demo and not real.from_cache and real.status == "failed"
    assert ready.hits("plantid") == 2 and ready.hits("plantnet") == 2


def test_a_partial_result_that_found_nothing_says_so_once_and_can_be_retried(client, ready, auth, users):
    from tests.identify_helpers import page_token
    auth.login()
    ready.set_mode("plantid", "500")
    ready.set_mode("plantnet", "not_found")
    post_upload(client, [images.jpeg(color=(70, 20, 120))])
    ident = _only()[0]
    assert ident.status == "partial" and not ident.suggestions
    assert ident.error == messages.PARTIAL_NOTHING_FOUND.format(why="Plant.id had a problem on its side",
                                                              other="Pl@ntNet")
    page = client.get(f"/identifications/{ident.id}").text
    # One true statement, not "Plant.id did not answer, so these come from Pl@ntNet" over no suggestions.
    assert "Neither service recognised" not in page and "these suggestions" not in page
    assert f'action="/identifications/{ident.id}/retry"' in page
    ready.set_mode("plantid", "ok")
    ready.set_mode("plantnet", "ok")
    response = client.post(f"/identifications/{ident.id}/retry", data={"csrf_token": page_token(client)})
    assert response.status_code == 303
    db.session.expire_all()
    assert ident.status == "completed" and ident.suggestions and ident.error is None
    assert ready.hits("plantid") == 2 and ready.hits("plantnet") == 2


def test_only_a_rerun_of_the_job_holding_a_photo_lock_takes_it_back(app, ready):
    # A worker killed mid-job leaves the photo's lock held by the job's id: its rerun (same job id,
    # another worker) takes it back, while twins (other jobs) still wait for it to be released or expire.
    redis = app.extensions["redis"]
    name = service.LOCK_PREFIX + "a-photo"
    assert redis.lock(name, timeout=60).acquire(blocking=False, token=b"job:first")
    lock = redis.lock(name, timeout=60)
    assert not service._take_back(lock, b"job:twin") and not service._take_back(lock, None)
    assert service._take_back(lock, b"job:first") and lock.owned()
    assert 59 <= redis.ttl(name) <= 60
    lock.release()
    assert redis.get(name) is None


def _quota_used(app) -> int:
    redis = app.extensions["redis"]
    return sum(int(redis.get(key)) for key in redis.scan_iter(service.QUOTA_PREFIX + "*"))


def test_a_failed_identification_costs_no_quota_and_its_retry_is_charged(app, client, ready, monkeypatch):
    from tests.identify_helpers import page_token
    monkeypatch.setitem(app.config, "UPLOAD_QUOTA", 1)
    ready.set_mode("plantid", "401")
    ready.set_mode("plantnet", "401")  # refused keys: no automatic retry, the failure is final
    post_upload(client, [images.jpeg(color=(200, 10, 10))])
    failed = _only()[0]
    assert failed.status == "failed" and failed.error.endswith(messages.RETRY_LATER)
    assert _quota_used(app) == 0
    ready.reset()
    for name in ("plantid", "plantnet"):  # a refused key opened their circuits: say the keys are fixed
        CircuitBreaker(app.extensions["redis"], name).reset()
    assert post_upload(client, [images.jpeg(color=(10, 200, 10))]).status_code == 303  # the unit came back
    assert _only()[1].status == "completed" and _quota_used(app) == 1
    # The day's one unit is spent: the retry is refused, and the identification keeps its Retry button.
    response = client.post(f"/identifications/{failed.id}/retry", data={"csrf_token": page_token(client)})
    assert response.status_code == 429 and "Retry-After" in response.headers
    assert str(escape(messages.UPLOAD_QUOTA.format(limit=1))) in response.text
    db.session.refresh(failed)
    assert failed.status == "failed" and failed.attempts == 1 and ready.hits("plantid") == 1
    monkeypatch.setitem(app.config, "UPLOAD_QUOTA", 2)
    response = client.post(f"/identifications/{failed.id}/retry", data={"csrf_token": page_token(client)})
    assert response.status_code == 303
    db.session.refresh(failed)
    assert failed.status == "completed" and _quota_used(app) == 2


def test_a_failure_awaiting_its_automatic_retry_keeps_its_unit_once(app, client, ready):
    from tests.identify_helpers import page_token
    ready.set_mode("plantid", "500")
    ready.set_mode("plantnet", "500")
    post_upload(client, [images.jpeg(color=(30, 30, 200))])
    ident = _only()[0]
    assert ident.error.endswith(messages.RETRY_AUTOMATICALLY) and _quota_used(app) == 1
    ready.reset()
    # Retried by hand before the automatic retry: charged once in all, not twice.
    client.post(f"/identifications/{ident.id}/retry", data={"csrf_token": page_token(client)})
    db.session.refresh(ident)
    assert ident.status == "completed" and _quota_used(app) == 1


def test_an_upload_refused_after_its_charge_gives_it_back(app, client, ready, monkeypatch):
    from app.core.storage import StorageError

    def full(*args, **kwargs):
        raise StorageError("disk full")

    monkeypatch.setattr(app.extensions["storage"], "save", full)
    assert post_upload(client, [images.jpeg()]).status_code == 503
    assert _quota_used(app) == 0
    assert not list(app.extensions["redis"].scan_iter(service.CHARGED_PREFIX + "*"))


def test_the_same_photo_from_another_region_asks_the_providers_again(client, ready):
    photo = images.jpeg(color=(60, 140, 200))
    post_upload(client, [photo], extra={"latitude": "51.501", "longitude": "-0.124"})
    post_upload(client, [photo], extra={"latitude": "51.52", "longitude": "-0.08"})  # same 11 km: cached
    post_upload(client, [photo], extra={"latitude": "48.85", "longitude": "2.35"})
    london, nearby, paris = _only()
    assert not london.from_cache and nearby.from_cache and not paris.from_cache
    assert ready.hits("plantid") == 2 and ready.hits("plantnet") == 2
    sent = [json.loads(request.body) for request in ready.requests("plantid")]
    assert [(body["latitude"], body["longitude"]) for body in sent] == [(51.501, -0.124), (48.85, 2.35)]


def test_a_retry_the_queue_refuses_leaves_the_identification_as_it_was(app, client, ready, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from tests.identify_helpers import page_token
    ready.set_mode("plantid", "401")
    ready.set_mode("plantnet", "401")
    post_upload(client, [images.jpeg(color=(5, 150, 150))])
    failed = _only()[0]
    error, finished = failed.error, failed.finished_at
    assert _quota_used(app) == 0

    def refuse(*args, **kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(service, "enqueue_identification", refuse)
    response = client.post(f"/identifications/{failed.id}/retry", data={"csrf_token": page_token(client)})
    assert response.status_code == 503 and str(escape(messages.QUEUE_DOWN)) in response.text
    db.session.expire_all()
    failed = db.session.get(Identification, failed.id)
    assert (failed.status, failed.error, failed.finished_at) == ("failed", error, finished)  # Retry still works
    assert _quota_used(app) == 0  # the retry's unit came back
