"""The one contact check (protocol.contact) that the tray, the CLI, the agent and the server
share: what each method accepts, and a sentence in both languages for each refusal."""

from __future__ import annotations

import pytest

from protocol import limits as L
from protocol.contact import CONTACT_PROBLEMS, contact_problem


@pytest.mark.parametrize(
    ("method", "address", "problem"),
    [
        (None, "", None),
        ("", "a@b.cn", "address-without-method"),
        ("fax", "", "method-unknown"),
        ("email", "alice@example.cn", None),
        ("email", "张三@例子.中国", None),
        ("email", "", "email-missing"),
        ("email", "alice@example", "email-invalid"),
        ("email", "alice@@example.cn", "email-invalid"),
        ("email", "alice smith@example.cn", "email-invalid"),
        ("email", "a" * 65 + "@example.cn", "email-invalid"),
        ("email", "a@" + "b" * L.MAX_EMAIL + ".cn", "email-too-long"),
        ("phone", "+86 138 0013 8000", None),
        ("phone", "010-6552-9988", None),
        ("phone", "8021", None),
        ("phone", "", "phone-missing"),
        ("phone", "12", "phone-digits"),
        ("phone", "1" * (L.MAX_PHONE_DIGITS + 1), "phone-digits"),
        ("phone", "ext 8021", "phone-characters"),
        ("phone", "138+0013", "phone-characters"),
        ("phone", "８０２１", "phone-characters"),
        ("phone", "1 " * 20, "phone-too-long"),
        ("wechat", "", None),
        ("wechat", "wxid_alice", None),
        ("wechat", "wx id", "wechat-invalid"),
        ("wechat", "bell\x07", "wechat-invalid"),
        ("wechat", "x" * (L.MAX_WECHAT_ID + 1), "wechat-invalid"),
        ("none", "", None),
        ("none", "a@b.cn", "address-not-needed"),
    ],
)
def test_each_method_accepts_what_it_should(
    method: str | None, address: str, problem: str | None
) -> None:
    assert contact_problem(method, address) == problem


def test_every_refusal_is_worded_in_both_languages() -> None:
    for code, (zh, en) in CONTACT_PROBLEMS.items():
        assert zh and en and zh != en, code
        assert any("\u4e00" <= c <= "\u9fff" for c in zh), code
