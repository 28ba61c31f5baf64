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
