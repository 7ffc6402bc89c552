"""WeChat-like programs and app bundles where people keep programs, outside any approved install.

The "unrecognised WeChat-like client" judgement covers running processes and installed apps;
this probe extends it to what sits loose in a home: programs and bundles in Downloads,
Desktop, Documents, `~/.local/bin`, `~/bin`, `~/Applications`, `~/Library/Application
Support`, and release archives extracted anywhere below them (`discovery._PROGRAM_PLACES`).
A `CWeChatRobot.exe` on the Desktop, a `wecom-multi-open.exe` in Downloads, or a copy of
WeChat.app under Application Support are each an `UnrecognisedFact` of kind "program".

What is not a look-alike:
- a file inside an approved client's install tree (`ClientIndex.install_root_of`);
- a name that only resembles WeChat's (`identity.looks_like_wechat`: `weechat`, SDKs,
  mini-program typings);
- a Windows program whose Authenticode signature is intact and names one of the approved
  clients' signers (the official installer a person downloaded). The certificate chain is not
  checked offline (see checks/integrity/authenticode.py), so this trusts the signer's name;
- AppImages: whether one is Tencent's build is decided by the approved-client identity
  checks, not by this probe.
An app bundle (macOS `.app`) outside the approved install is a finding whatever signed it:
with a Tencent bundle id it is a copy of the client (re-signed or not) run from elsewhere.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from checks.catalogue import ApprovedClient
from checks.identity import ClientIndex, looks_like_wechat
from checks.model import Platform, UnrecognisedFact
from checks.probes.apps import read_bundle
from checks.probes.base import ProbeContext

# Magic numbers of programs: ELF, PE ("MZ"), Mach-O (both byte orders, 32/64-bit, fat), and
# scripts ("#!"). An extensionless file without one of them is a document, not a program.
_MAGIC = (
    b"\x7fELF",
    b"MZ",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",
)


def collect(ctx: ProbeContext, clients: ClientIndex) -> None:
    signers = _signers(clients.clients)
    for entry, _user in ctx.marks().programs:
        with ctx.fs.item("lookalikes", entry.path):
            fact = _judge(ctx, clients, signers, entry.path, entry.name, entry.is_dir)
            if fact is not None:
                ctx.facts.unrecognised.append(fact)


def _signers(clients: list[ApprovedClient]) -> set[str]:
    from checks.integrity.pe import normalise_signer

    return {normalise_signer(s) for c in clients for s in c.signers}


def _judge(
    ctx: ProbeContext,
    clients: ClientIndex,
    signers: set[str],
    path: str,
    name: str,
    is_dir: bool,
) -> UnrecognisedFact | None:
    if clients.install_root_of(path) is not None:
        return None
    low = name.casefold()
    if is_dir:
        if not low.endswith(".app"):
            return None
        app = read_bundle(ctx, path)
        tencent = app.app_id.casefold().startswith("com.tencent.")
        if not (tencent or looks_like_wechat(name) or looks_like_wechat(app.name)):
            return None
        if clients.approved_app(app) is not None:
            return None
        why = f"bundle id {app.app_id}" if app.app_id else "no bundle id"
        return UnrecognisedFact(
            "program",
            name,
            path,
            f"a WeChat-like app bundle ({why}) outside any approved install",
        )
    if low.endswith(".appimage") or not looks_like_wechat(os.path.splitext(name)[0]):
        return None
    head = _head(ctx, path)
    if head is None:
        return None
    if "." not in name and not head.startswith(_MAGIC):
        return None  # an extensionless document
    if head.startswith(b"MZ") and _vendor_signed(ctx, path, signers):
        return None
    kind = _kind(head, ctx.layout.platform)
    return UnrecognisedFact(
        "program", name, path, f"a WeChat-like {kind} outside any approved install"
    )


def _head(ctx: ProbeContext, path: str) -> bytes | None:
    return ctx.fs.examined(path, _first_bytes, "lookalikes")


def _first_bytes(fh: BinaryIO, st: os.stat_result) -> bytes:
    del st
    return fh.read(4)


def _kind(head: bytes, platform: Platform) -> str:
    if head.startswith(b"MZ"):
        return "Windows program"
    if head.startswith(b"\x7fELF"):
        return "Linux program"
    if head.startswith(b"#!"):
        return "script"
    if head[:4] in _MAGIC:
        return "macOS program"
    return "program file" if platform is Platform.WINDOWS else "file named like a program"


def _vendor_signed(ctx: ProbeContext, path: str, signers: set[str]) -> bool:
    """A PE file signed by an approved client's signer and unchanged since it was signed."""
    if not signers:
        return False
    signed = ctx.fs.examined(path, _signer_and_intact, "lookalikes")
    return signed is not None and signed[1] and signed[0] in signers


def _signer_and_intact(fh: BinaryIO, st: os.stat_result) -> tuple[str, bool]:
    """(normalised signer organisation, whether the image verifies); ("", False) unsigned."""
    from checks.integrity import authenticode, pe  # asn1crypto: imported only when needed

    try:
        sig = pe.inspect(fh, st.st_size)
    except pe.PeError:
        return "", False
    if sig.signer is None:
        return "", False
    return pe.normalise_signer(sig.signer.organization), authenticode.verify_image(
        fh, st.st_size
    ).intact
