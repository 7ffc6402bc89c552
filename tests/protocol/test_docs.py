"""docs/protocol.md and docs/ipc.md say what the models say: every field and limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import docs

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", sorted(docs.DOCS))
def test_the_generated_field_tables_match_the_models(name: str) -> None:
    models, title = docs.DOCS[name]
    text = (DOCS / name).read_text("utf-8")
    assert docs.render(text, models, title) == text, (
        f"docs/{name} disagrees with the models in protocol/: run `python -m protocol.docs`"
    )


def test_every_field_and_limit_of_every_message_is_in_the_doc() -> None:
    text = (DOCS / "protocol.md").read_text("utf-8")
    for model in docs.DEVICE_MODELS:
        assert f"**{model.__name__}**" in text
        for name in model.model_fields:
            assert f"`{name}`" in text, (model.__name__, name)
    assert "≤ 10000 chars" in text and "≤ 10000 |" in text  # description; deferrals


def test_a_changed_limit_makes_the_check_fail() -> None:
    text = (DOCS / "protocol.md").read_text("utf-8")
    models, title = docs.DOCS["protocol.md"]
    assert docs.render(text.replace("≤ 10000 chars", "≤ 9999 chars"), models, title) == text
    assert text.replace("≤ 10000 chars", "≤ 9999 chars") != text
