"""Plain-text logs (LOG_JSON=0) keep what JSON logs keep: the fields given in extra=."""
import logging

from app.core.logging import TextFormatter


def _line(**extra) -> str:
    record = logging.LogRecord("app.identify", logging.WARNING, __file__, 1, "identification failed", None, None)
    record.request_id = "req-1"
    record.__dict__.update(extra)
    return TextFormatter("%(levelname)s [%(request_id)s] %(name)s: %(message)s").format(record)


def test_extra_fields_follow_the_message_as_key_value():
    line = _line(event="identification_failed", identification_id="3f1c", kinds=["auth", "timeout"], count=2)
    assert line == ('WARNING [req-1] app.identify: identification failed event=identification_failed '
                    'identification_id=3f1c kinds=["auth","timeout"] count=2')


def test_values_with_spaces_or_quotes_are_quoted_and_none_is_left_out():
    line = _line(reason='the "slow" key', user_id=None, empty="")
    assert line == 'WARNING [req-1] app.identify: identification failed reason="the \\"slow\\" key" empty=""'


def test_a_record_without_extra_fields_is_unchanged():
    assert _line() == "WARNING [req-1] app.identify: identification failed"


def test_the_traceback_comes_after_the_fields():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "job crashed", None, sys.exc_info())
    record.request_id = None
    record.event = "job_crashed"
    lines = TextFormatter("%(levelname)s %(message)s").format(record).splitlines()
    assert lines[0] == "ERROR job crashed event=job_crashed"
    assert lines[-1] == "RuntimeError: boom"


def _rq(level, message, *args, name="rq.worker"):
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_rqs_routine_lines_about_periodic_jobs_are_dropped_and_nothing_else():
    from app.core.logging import QuietPeriodicJobs
    quiet = QuietPeriodicJobs()
    run = "app.core.jobs.run_periodic('abandoned-jobs')"
    assert not quiet.filter(_rq(logging.INFO, "Worker %s: %s: %s (%s)", "w1", "fast", run, "periodic-abandoned-jobs-ab12"))
    assert not quiet.filter(_rq(logging.INFO, "Successfully completed %s job in %ss", run, "0.001"))
    assert not quiet.filter(_rq(logging.INFO, "Worker %s: %s: Job OK (%s)", "w1", "fast", "periodic-abandoned-jobs-ab12"))
    # An identification's lines, a periodic job's failure, and the app's own records all stay.
    assert quiet.filter(_rq(logging.INFO, "Worker %s: %s: Job OK (%s)", "w1", "fast", "3f2e9a61-0c1d"))
    assert quiet.filter(_rq(logging.ERROR, "Worker %s: %s failed", "w1", run))
    assert quiet.filter(_rq(logging.INFO, "abandoned jobs handed on: periodic-x", name="app.core.jobs"))
