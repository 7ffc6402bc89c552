"""Showing untrusted text safely: one line for terminals and logs, invisible characters revealed
for the dashboard.

File names, report summaries and host names come from employees. Written raw to a terminal they
can move the cursor, recolour or retitle it (ESC sequences) or forge extra lines; in a log a
newline forges a whole record; in a web page a right-to-left override makes `e<U+202E>gnp.exe`
read as `eexe.png`. Every front end shows such text through one of the two functions here.
"""

from __future__ import annotations

import logging
import re

# Characters that reorder or hide text without being "control characters": the bidirectional
# embeddings, overrides, isolates and marks, and the zero-width characters. Shown as <U+XXXX>.
_INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f"  # zero-width space/non-joiner/joiner, LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # LRE, RLE, PDF, LRO, RLO
    "\u2060\u2066\u2067\u2068\u2069"  # word joiner, LRI, RLI, FSI, PDI
    "\u061c\ufeff"  # Arabic letter mark, zero-width no-break space (BOM)
)
# C0 controls (newline, CR and tab included), DEL, C1 controls (NEL among them), the Unicode
# line and paragraph separators, and lone surrogates (undecodable bytes kept by surrogateescape).
_CONTROL = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
_TERMINAL_UNSAFE = re.compile(f"[{_CONTROL}{_INVISIBLE}]")
# The dashboard keeps line breaks and tabs (descriptions are multi-line, shown pre-wrapped).
_HTML_UNSAFE = re.compile(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff{_INVISIBLE}]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What `json.dumps(ensure_ascii=False)` leaves raw that a terminal acts on (DEL, C1 controls
# such as U+009B, a CSI in xterm) or that reorders or hides text (bidi, zero-width).
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f\u2028\u2029{_INVISIBLE}]")


def _terminal_escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte itself
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def one_line(value: object) -> str:
    """`value` as text that is safe to write to a terminal or a log, on one line.

    Control characters (C0 including newline, CR and tab; DEL; C1; U+2028/U+2029) become
    `\\n`, `\\r`, `\\t` or `\\xNN`; bidirectional and zero-width characters become `\\uNNNN`;
    an undecodable byte carried as a surrogate (`os.fsdecode`, `surrogateescape`) becomes
    `\\xNN`, so the result always encodes as UTF-8. Everything else, Chinese included, is
    unchanged. Never raises.
    """
    text = value if isinstance(value, str) else str(value)
    return _TERMINAL_UNSAFE.sub(_terminal_escape, text)


def json_for_terminal(text: str) -> str:
    """JSON text from `json.dumps(..., ensure_ascii=False)` with DEL, C1 controls, U+2028/9,
    bidirectional and zero-width characters written as `\\uXXXX` escapes: the same JSON
    value (these characters can only occur inside strings), safe to print (json escapes C0)."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def lines(text: str) -> str:
    """Text whose line breaks are meant (one rendered line each), with every line made safe:
    a line break can then only come from the caller, never from a value inside a line."""
    return "\n".join(one_line(line) for line in text.split("\n"))


def reveal(value: str) -> str:
    """`value` for a web page: bidirectional, zero-width and control characters (except line
    breaks and tabs) shown as `<U+202E>` so that they can neither reorder nor hide text.
    The result is plain text; HTML escaping is still the template engine's job."""
    return _HTML_UNSAFE.sub(lambda m: f"<U+{ord(m.group()):04X}>", value)


class OneLineFormatter(logging.Formatter):
    """A log formatter for which one record is one line whatever its arguments hold.

    The message (after %-formatting with the record's arguments) goes through `one_line`; a
    traceback keeps its lines, each made safe and indented with `  | ` so that no line of it
    can pass for a record of its own.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return _indent(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indent(super().formatStack(stack_info))


def _indent(text: str) -> str:
    return "\n".join("  | " + one_line(line) for line in text.splitlines())
