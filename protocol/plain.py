"""The text rules every message shares (no NUL, no lone surrogate), without pydantic: the idle
agent escapes what it found with `storable`; `protocol.text.Strict` applies `check_storable`
to every field of a model."""

from __future__ import annotations

from typing import Any

NUL_MESSAGE = "text must not contain NUL characters"
SURROGATE_MESSAGE = "text must be valid Unicode (no lone surrogates)"


def check_storable(value: Any) -> None:
    """Raise ValueError when a string (in any list or dict) holds NUL or a lone surrogate."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(NUL_MESSAGE)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(SURROGATE_MESSAGE) from exc
    elif isinstance(value, list | tuple):
        for item in value:
            check_storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item)


def storable(value: str) -> str:
    """`value` made storable: NUL becomes U+FFFD, a lone surrogate its `\\udcXX` escape (for
    text the agent found rather than text a person typed: a file name must still arrive)."""
    value = value.replace("\x00", "\ufffd")
    return value.encode("utf-8", "backslashreplace").decode("utf-8")
