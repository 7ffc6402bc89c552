"""`checks.text`: the one way untrusted text reaches a terminal, a log or the dashboard."""

from __future__ import annotations

import io
import logging
import os

from hypothesis import given
from hypothesis import strategies as st

from checks.text import OneLineFormatter, one_line, reveal


def test_one_line_escapes_controls_and_keeps_the_rest() -> None:
    hostile = "a\x1b[31m\nb\r\t\x00\x7f\x85\x9b\u2028\u202ec 微信 " + os.fsdecode(b"\xff")
    assert one_line(hostile) == "a\\x1b[31m\\nb\\r\\t\\x00\\x7f\\x85\\x9b\\u2028\\u202ec 微信 \\xff"


@given(st.text())
def test_one_line_is_one_printable_utf8_line(text: str) -> None:
    shown = one_line(text)
    shown.encode("utf-8")  # surrogates included: never raises
    assert len(shown.splitlines()) <= 1
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in shown)


def test_reveal_shows_reordering_and_invisible_characters() -> None:
    assert reveal("e\u202egnp.exe") == "e<U+202E>gnp.exe"
    for ch in "\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c":
        assert reveal(ch) == f"<U+{ord(ch):04X}>"
    for ch in "\u200b\u200c\u200d\u2060\ufeff\x1b":
        assert reveal(ch) == f"<U+{ord(ch):04X}>"
    assert reveal("two\nlines\tkept 微信") == "two\nlines\tkept 微信"


def test_a_log_record_is_one_line_whatever_its_arguments() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(OneLineFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("wxguard.test.text")
    log.addHandler(handler)
    try:
        log.warning("file %s", "x\nINFO forged record\x1b[2J")
        try:
            raise ValueError("boom\nINFO forged by an exception")
        except ValueError:
            log.exception("scan failed")
    finally:
        log.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert lines[0] == "WARNING file x\\nINFO forged record\\x1b[2J"
    assert lines[1] == "ERROR scan failed"
    assert all(line.startswith("  | ") for line in lines[2:])
    assert not any(line.startswith("INFO") for line in lines)
