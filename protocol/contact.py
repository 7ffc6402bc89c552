"""How the security team may reach the person who filed a report: a method and, for the
methods that need one, an address or number (issue 16).

One check (`contact_problem`) for every side: the tray's form and the CLI hear about a bad
address before the report is queued, the agent refuses it before it says "queued", and the
server refuses it in `ReportCreate`. The check answers a code; `CONTACT_PROBLEMS` words each
code in Chinese and English (the tray words them through its own translations).

"Looks like" is all that is checked: nothing is sent to the address, so no mail server or
telephone network is asked (no DNS, no deliverability).
"""

from __future__ import annotations

import re
from enum import StrEnum

from protocol import limits as L

__all__ = [
    "CONTACT_PROBLEMS",
    "ContactMethod",
    "contact_problem",
    "explain_contact",
    "needs_address",
    "takes_address",
]


class ContactMethod(StrEnum):
    """Stable strings (never renamed): the tray's "How to contact you" choices."""

    EMAIL = "email"
    PHONE = "phone"
    WECHAT = "wechat"  # enterprise WeChat (WeCom)
    NONE = "none"


def needs_address(method: str | None) -> bool:
    """Email and phone cannot be used without an address or number."""
    return method in (ContactMethod.EMAIL, ContactMethod.PHONE)


def takes_address(method: str | None) -> bool:
    """Email, phone and enterprise WeChat (the WeChat ID is optional: the team can find a
    colleague by name in the company directory)."""
    return method in (ContactMethod.EMAIL, ContactMethod.PHONE, ContactMethod.WECHAT)


# One "@", a local part of at most 64 characters (RFC 5321 section 4.5.3.1.1) and a domain of
# dot-separated labels with at least one dot; no spaces, no angle brackets or quotes.
_EMAIL = re.compile(r"[^@\s<>\"',;]{1,64}@[^@\s<>\"',;.]+(\.[^@\s<>\"',;.]+)+")
# Digits, spaces and hyphens, with an optional leading "+" (international form).
_PHONE = re.compile(r"\+?[0-9][0-9 \-]*")


def contact_problem(method: str | None, address: str) -> str | None:
    """What is wrong with a contact method and address, as a code of `CONTACT_PROBLEMS`, or
    None when they can be sent. `address` is taken as typed (the caller strips it).

    - no method: no address either (`address-without-method`);
    - email / phone: an address is required (`email-missing`, `phone-missing`);
    - email: one `@`, a domain with a dot, at most `L.MAX_EMAIL` characters (`email-invalid`,
      `email-too-long`);
    - phone: digits, spaces, `-`, an optional leading `+` (`phone-characters`), with
      `L.MIN_PHONE_DIGITS`..`L.MAX_PHONE_DIGITS` digits (`phone-digits`) and at most
      `L.MAX_PHONE` characters (`phone-too-long`);
    - enterprise WeChat: an optional ID of at most `L.MAX_WECHAT_ID` printable characters, no
      spaces (`wechat-invalid`);
    - "no need to contact me": no address (`address-not-needed`).
    """
    if method is None or method == "":
        return "address-without-method" if address else None
    if method not in ContactMethod.__members__.values():
        return "method-unknown"
    if method == ContactMethod.EMAIL:
        if not address:
            return "email-missing"
        if len(address) > L.MAX_EMAIL:
            return "email-too-long"
        return None if _EMAIL.fullmatch(address) else "email-invalid"
    if method == ContactMethod.PHONE:
        if not address:
            return "phone-missing"
        if len(address) > L.MAX_PHONE:
            return "phone-too-long"
        if not _PHONE.fullmatch(address):
            return "phone-characters"
        digits = sum(c.isdigit() for c in address)
        return None if L.MIN_PHONE_DIGITS <= digits <= L.MAX_PHONE_DIGITS else "phone-digits"
    if method == ContactMethod.WECHAT:
        if len(address) > L.MAX_WECHAT_ID or not all(
            c.isprintable() and not c.isspace() for c in address
        ):
            return "wechat-invalid"
        return None
    return "address-not-needed" if address else None


CONTACT_PROBLEMS: dict[str, tuple[str, str]] = {
    "address-without-method": (
        "填写了联系地址，请同时选择联系方式。",
        "A contact address was given: choose how to contact you too.",
    ),
    "method-unknown": (
        "联系方式只能是：email（邮件）、phone（电话）、wechat（企业微信）或 none（无需联系）。",
        "The contact method must be email, phone, wechat (enterprise WeChat) or none.",
    ),
    "email-missing": (
        "选择了邮件联系，请填写邮箱地址。",
        "You chose email: give your email address.",
    ),
    "email-invalid": (
        "邮箱地址格式不对，应类似 name@example.com。",
        "That does not look like an email address (name@example.com).",
    ),
    "email-too-long": (
        f"邮箱地址最多 {L.MAX_EMAIL} 个字符。",
        f"An email address has at most {L.MAX_EMAIL} characters.",
    ),
    "phone-missing": (
        "选择了电话联系，请填写电话号码。",
        "You chose phone: give your phone number.",
    ),
    "phone-characters": (
        "电话号码只能包含数字、空格、“-”，开头可以有“+”。",
        "A phone number has only digits, spaces and '-', with an optional leading '+'.",
    ),
    "phone-digits": (
        f"电话号码应有 {L.MIN_PHONE_DIGITS}–{L.MAX_PHONE_DIGITS} 位数字。",
        f"A phone number has {L.MIN_PHONE_DIGITS}–{L.MAX_PHONE_DIGITS} digits.",
    ),
    "phone-too-long": (
        f"电话号码最多 {L.MAX_PHONE} 个字符。",
        f"A phone number has at most {L.MAX_PHONE} characters.",
    ),
    "wechat-invalid": (
        f"企业微信账号最多 {L.MAX_WECHAT_ID} 个字符，不能有空格。",
        f"An enterprise WeChat ID has at most {L.MAX_WECHAT_ID} characters and no spaces.",
    ),
    "address-not-needed": (
        "选择了“无需联系”，请删去联系地址，或选择其他联系方式。",
        "You chose not to be contacted: remove the contact address or choose another method.",
    ),
}


def explain_contact(method: str | None, address: str) -> tuple[str, str] | None:
    """`contact_problem` worded as (Chinese, English), or None when there is no problem."""
    code = contact_problem(method, address)
    return CONTACT_PROBLEMS[code] if code else None
