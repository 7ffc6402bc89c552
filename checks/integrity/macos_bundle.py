"""macOS app bundles of approved clients, checked against their own seal and code signature.

Two checks, one walk over the approved bundles found under the scan root:

`macos-bundle-seal`: every file of the bundle against `Contents/_CodeSignature/CodeResources`.
Its `files2` map a path relative to `Contents/` to a SHA-256 `hash2` (or a legacy SHA-1
`<data>`/`hash`), a `symlink` target, or, for nested code (frameworks, helpers, XPC
services), a `cdhash`/`requirement`: those nested bundles carry their own seal and are not
descended into. `rules2` decide what is sealed at all; a file whose strongest matching rule
says `omit` (`.DS_Store`, `locversion.plist`) is ignored. `_CodeSignature/`, `Info.plist`,
`PkgInfo` and the main executable are sealed by the CodeDirectory, not by `files2`, and are
left to the second check. A file added, missing or changed is tampering (WeChatExtension's
inserted framework and `WeChat_backup`, WeChatTweak's framework and `WeChat.bak`); a bundle
without CodeResources at all was never signed or was stripped.

`macos-code-signature`: the main executable's embedded signature (see `macho.py`): unsigned,
ad-hoc (WeChatTweak re-signs with `codesign --force --deep --sign -`), a Team ID that is not
the client's, code pages patched in place (WeChatTweak 2025), and the special slots that
seal `Info.plist` (-1) and `CodeResources` (-3).

Nested helper apps, app extensions and XPC services (`Frameworks/WeChat Helper.app`, those
in a nested framework's `Helpers/`) are programs of their own: each gets both checks, its own
seal and its own signature, which must carry the client's Team ID through a verified chain
(`nested_helpers`). Nested frameworks (`Frameworks/*.framework`, each version's binary) and
loose dylibs that a seal lists as nested code are judged by their own embedded signature the
same way (`check_nested_code`): signed, not ad hoc, a CMS that chains to Apple's roots, and a
Team ID of the client's; the finding says what was expected and what was found, in Chinese
and English. Not checked: nested frameworks' own resource seals, and whether `cdhash`
entries match the nested code. Hashing is cached
on (path, size, mtime, inode), so a warm rescan of an unchanged bundle re-hashes nothing.
"""

from __future__ import annotations

import os
import plistlib
import re
import stat as stat_mod
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from checks.catalogue import ApprovedClient
from checks.fsview import FsView
from checks.identity import ClientIndex
from checks.integrity import macho
from checks.integrity.common import MAX_FACTS_PER_INSTALL, install_roots
from checks.integrity.filecache import computed, digest_file
from checks.model import Facts, TamperFact
from checks.trust import TrustStore

SEAL = "macos-bundle-seal"
SIGNATURE = "macos-code-signature"
MAX_SEAL_SIZE = 64 * 1024 * 1024
MAX_BUNDLE_FILES = 200_000
# What Apple's default rules2 omit, for seals that carry no rules of their own.
_DEFAULT_OMIT = (
    r"^Info\.plist$",
    r"^PkgInfo$",
    r"^Resources/.*\.lproj/locversion\.plist$",
    r"^(.*/)?\.DS_Store$",
)


@dataclass(frozen=True, slots=True)
class SealEntry:
    sha256: bytes = b""
    sha1: bytes = b""
    symlink: str | None = None
    nested: bool = False
    optional: bool = False


@dataclass(frozen=True, slots=True)
class SealRule:
    pattern: re.Pattern[str]
    weight: float
    omit: bool


@dataclass(frozen=True, slots=True)
class Seal:
    """A parsed CodeResources: what the bundle's files must be, and what is not sealed."""

    files: dict[str, SealEntry]
    rules: tuple[SealRule, ...]
    bad_rules: tuple[str, ...] = ()
    nested: tuple[str, ...] = field(default=())

    def omitted(self, rel: str) -> bool:
        best: SealRule | None = None
        for rule in self.rules:
            if (best is None or rule.weight > best.weight) and rule.pattern.search(rel):
                best = rule
        return best is not None and best.omit


@dataclass(frozen=True, slots=True)
class Bundle:
    client: ApprovedClient
    path: str
    executable: str  # CFBundleExecutable


# --- parsing -----------------------------------------------------------------------------


def _plist(data: bytes) -> dict[str, Any]:
    try:
        value = plistlib.loads(data)
    except Exception as exc:  # expat, binascii, … errors all mean "not a plist"
        raise ValueError(f"not a property list ({type(exc).__name__})") from exc
    if not isinstance(value, dict):
        raise ValueError("the property list is not a dictionary")
    return value


def parse_seal(data: bytes) -> Seal:
    """CodeResources bytes -> Seal (raises ValueError when they are not a seal)."""
    doc = _plist(data)
    raw = doc.get("files2")
    legacy = raw is None
    if legacy:
        raw = doc.get("files")
    if not isinstance(raw, Mapping):
        raise ValueError("neither files2 nor files is a dictionary")
    files: dict[str, SealEntry] = {}
    for rel, spec in raw.items():
        if not isinstance(rel, str) or not rel:
            continue
        files[_nfc(rel)] = _entry(spec)
    rules_doc = doc.get("rules" if legacy else "rules2")
    rules: list[SealRule] = []
    bad: list[str] = []
    if isinstance(rules_doc, Mapping):
        for pattern, spec in rules_doc.items():
            try:
                compiled = re.compile(str(pattern))
            except re.error:
                bad.append(str(pattern))
                continue
            weight = 1.0
            omit = False
            if isinstance(spec, Mapping):
                weight = float(spec.get("weight", 1.0))
                omit = bool(spec.get("omit", False))
            rules.append(SealRule(compiled, weight, omit))
    else:
        rules = [SealRule(re.compile(p), 20.0, True) for p in _DEFAULT_OMIT]
    nested = tuple(sorted(rel for rel, e in files.items() if e.nested))
    return Seal(files, tuple(rules), tuple(bad), nested)


def _nfc(rel: str) -> str:
    """One Unicode normal form for seal keys and names on disk (HFS+ stores NFD, APFS keeps
    what it was given, the seal holds what codesign saw): 微信.app's resources compare equal."""
    return rel if rel.isascii() else unicodedata.normalize("NFC", rel)


def _entry(spec: object) -> SealEntry:
    if isinstance(spec, bytes):
        return SealEntry(sha1=spec)
    if not isinstance(spec, Mapping):
        raise ValueError("a files2 entry is neither data nor a dictionary")
    optional = bool(spec.get("optional", False))
    if "cdhash" in spec or "requirement" in spec:
        return SealEntry(nested=True, optional=optional)
    if isinstance(spec.get("symlink"), str):
        return SealEntry(symlink=spec["symlink"], optional=optional)
    sha256 = spec.get("hash2", b"")
    sha1 = spec.get("hash", b"")
    if not isinstance(sha256, bytes) or not isinstance(sha1, bytes) or not (sha256 or sha1):
        raise ValueError("a files2 entry has no usable digest")
    return SealEntry(sha256=sha256, sha1=sha1, optional=optional)


# --- discovery ---------------------------------------------------------------------------


def approved_bundles(clients: ClientIndex, fs: FsView) -> list[Bundle]:
    """Bundles at an approved client's install path whose bundle id is the client's."""
    found: list[Bundle] = []
    for client in clients.clients:
        if not client.bundle_ids:
            continue
        for root in install_roots(clients, client, fs):
            info = fs.parsed(f"{root}/Contents/Info.plist", _plist, "integrity")
            if info is None or info.get("CFBundleIdentifier") not in client.bundle_ids:
                continue  # not this client's bundle: the unrecognised-app rule speaks to it
            exe = info.get("CFBundleExecutable")
            if not isinstance(exe, str) or not exe or "/" in exe or exe in (".", ".."):
                fs.note("integrity", f"{root}/Contents/Info.plist", "no usable CFBundleExecutable")
                exe = ""
            found.append(Bundle(client, root, exe))
    return found


def collect(facts: Facts, clients: ClientIndex, fs: FsView) -> None:
    for bundle in approved_bundles(clients, fs):
        # One bundle that cannot be examined is a blind spot for it; the others are checked.
        for each in [bundle, *nested_helpers(bundle, fs)]:
            with fs.item("integrity", each.path):
                check_seal(facts, each, fs)
            with fs.item("integrity", each.path):
                check_signature(facts, each, fs, clients.trust)
            with fs.item("integrity", each.path):
                check_nested_code(facts, each, fs, clients.trust)


# Nested code that is a program of its own (a helper app, an app extension, an XPC service):
# the outer seal names it by cdhash only, so it is judged by its own seal and signature. In
# a nested framework they sit in these folders of each version.
_HELPER_SUFFIXES = (".app", ".appex", ".xpc")
_FRAMEWORK_HELPERS = ("Helpers", "XPCServices", "Resources", "PlugIns")
MAX_HELPER_DEPTH = 3
MAX_HELPERS = 64


def nested_helpers(bundle: Bundle, fs: FsView, depth: int = 0) -> list[Bundle]:
    """The helper apps, extensions and XPC services nested in `bundle` (the code its seal
    lists as nested, and those inside its nested frameworks), at any depth up to
    MAX_HELPER_DEPTH, each with its own main executable. They belong to the same client
    and must carry its Team ID (`check_signature`), like the bundle around them."""
    if depth >= MAX_HELPER_DEPTH:
        return []
    seal = fs.parsed(
        f"{bundle.path}/Contents/_CodeSignature/CodeResources",
        parse_seal,
        "integrity",
        MAX_SEAL_SIZE,
    )
    if seal is None:
        return []
    paths: list[str] = []
    for rel in seal.nested:
        path = f"{bundle.path}/Contents/{rel}"
        low = rel.casefold()
        if low.endswith(_HELPER_SUFFIXES):
            paths.append(path)
        elif low.endswith(".framework"):
            for folder in _FRAMEWORK_HELPERS:
                for suffix in _HELPER_SUFFIXES:
                    pattern = f"Versions/*/{folder}/*{suffix}"
                    paths.extend(e.path for e in fs.glob(path, pattern, "integrity") if e.is_dir)
    out: list[Bundle] = []
    for path in sorted(set(paths))[:MAX_HELPERS]:
        if not fs.is_dir(path):
            continue  # missing: the outer seal says so
        info = fs.parsed(f"{path}/Contents/Info.plist", _plist, "integrity")
        exe = info.get("CFBundleExecutable") if info is not None else None
        if not isinstance(exe, str) or not exe or "/" in exe or exe in (".", ".."):
            fs.note("integrity", f"{path}/Contents/Info.plist", "no usable CFBundleExecutable")
            continue
        helper = Bundle(bundle.client, path, exe)
        out.append(helper)
        out.extend(nested_helpers(helper, fs, depth + 1))
    return out


# --- the seal ----------------------------------------------------------------------------


class _Sink:
    """Tamper facts for one check on one install, capped so one broken bundle stays readable."""

    def __init__(self, facts: Facts, check: str, client_id: str, summary_path: str) -> None:
        self.facts, self.check, self.client_id = facts, check, client_id
        self.summary_path = summary_path
        self.count = 0

    def add(self, path: str, detail: str) -> None:
        self.count += 1
        if self.count <= MAX_FACTS_PER_INSTALL:
            self.facts.tampering.append(TamperFact(self.check, self.client_id, path, detail))

    def close(self) -> None:
        extra = self.count - MAX_FACTS_PER_INSTALL
        if extra > 0:
            self.facts.tampering.append(
                TamperFact(
                    self.check,
                    self.client_id,
                    self.summary_path,
                    f"and {extra} more differences from the bundle's seal, not listed one by one",
                )
            )


def check_seal(facts: Facts, bundle: Bundle, fs: FsView) -> None:
    contents = f"{bundle.path}/Contents"
    seal_path = f"{contents}/_CodeSignature/CodeResources"
    sink = _Sink(facts, SEAL, bundle.client.id, bundle.path)
    if not fs.exists(seal_path):
        sink.add(
            seal_path,
            "the bundle has no sealed-resources file (Contents/_CodeSignature/CodeResources): "
            "it was never signed, or its signature was stripped",
        )
        sink.close()
        return
    seal = fs.parsed(seal_path, parse_seal, "integrity", MAX_SEAL_SIZE)
    if seal is None:
        return  # unreadable or unparseable: a blind spot; the signature's slot -3 still speaks
    for pattern in seal.bad_rules:
        fs.note("integrity", seal_path, f"rule {pattern!r} is not a regular expression we read")
    by_code = {"Info.plist", "PkgInfo", "CodeResources"}
    if bundle.executable:
        by_code.add(f"MacOS/{bundle.executable}")
    nested = tuple(n + "/" for n in seal.nested)
    sealed_dirs = _ancestors([*seal.files, *by_code, "_CodeSignature/CodeResources"])
    seen: set[str] = set()
    added: dict[str, list[str]] = {}

    for entry in fs.walk_files(contents, "integrity", MAX_BUNDLE_FILES):
        rel = _nfc(entry.path[len(contents) + 1 :])
        # `_MASReceipt/` is written by the Mac App Store after signing and is always left out
        # of the seal by Apple's codesign (field case 2): never "added".
        if rel in by_code or rel.startswith(("_CodeSignature/", "_MASReceipt/", *nested)):
            continue
        spec = seal.files.get(rel)
        if spec is None:
            if not seal.omitted(rel):
                added.setdefault(_unsealed_top(rel, seal.files, sealed_dirs), []).append(rel)
            continue
        seen.add(rel)
        if spec.nested:
            continue  # standalone nested code (a helper binary): sealed by its own cdhash
        problem = _compare(fs, entry.path, entry.is_symlink, spec)
        if problem:
            sink.add(entry.path, f"Contents/{rel}: {problem}")

    for rel, spec in sorted(seal.files.items()):
        if rel in seen or rel in by_code or rel.startswith(nested):
            continue
        path = f"{contents}/{rel}"
        try:
            st = os.lstat(path)
        except OSError:
            if not spec.optional:
                sink.add(path, f"Contents/{rel}: sealed in the bundle but missing")
            continue
        if spec.nested:
            continue  # nested code is present; its own seal covers its insides
        if stat_mod.S_ISDIR(st.st_mode):
            sink.add(path, f"Contents/{rel}: sealed as a file, found a folder")
            continue
        problem = _compare(fs, path, stat_mod.S_ISLNK(st.st_mode), spec)
        if problem:
            sink.add(path, f"Contents/{rel}: {problem}")

    for top, rels in sorted(added.items()):
        path = f"{contents}/{top}"
        if len(rels) == 1 and rels[0] == top:
            sink.add(path, f"Contents/{top}: a file that is not in the bundle's seal (added)")
        else:
            sample = ", ".join(r[len(top) + 1 :] for r in sorted(rels)[:3])
            sink.add(
                path,
                f"Contents/{top}/: a folder that is not in the bundle's seal (added), "
                f"{len(rels)} file(s), e.g. {sample}",
            )

    for entry in fs.listdir(bundle.path, "integrity"):
        if entry.name not in ("Contents", ".DS_Store"):
            sink.add(entry.path, f"{entry.name}: outside Contents/, where nothing may be added")
    sink.close()


def _compare(fs: FsView, path: str, is_link: bool, spec: SealEntry) -> str:
    """'' when the file is what the seal says, else what is wrong with it."""
    if spec.symlink is not None:
        try:
            target = os.readlink(path) if is_link else None
        except OSError as exc:
            fs.note("integrity", path, exc)
            return ""
        if target != spec.symlink:
            found = "a regular file" if target is None else f"a link to {target!r}"
            return f"sealed as a link to {spec.symlink!r}, found {found}"
        return ""
    if is_link:
        return "sealed as a file, found a symbolic link"
    if spec.sha256:
        actual = fs.sha256(path, "integrity")
        if actual is None:
            return ""  # vanished or unreadable (a blind spot), not evidence of tampering
        expected = spec.sha256.hex()
        if actual[: len(expected)] != expected:
            return f"changed (sha256 sealed {expected[:12]}…, found {actual[:12]}…)"
        return ""
    digest = digest_file(fs, path, "sha1")
    if digest is None:
        return ""
    if digest != spec.sha1:
        return f"changed (sha1 sealed {spec.sha1.hex()[:12]}…, found {digest.hex()[:12]}…)"
    return ""


def _ancestors(paths: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for rel in paths:
        parts = rel.split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    return dirs


def _unsealed_top(rel: str, files: Mapping[str, SealEntry], sealed_dirs: set[str]) -> str:
    """The outermost folder of `rel` that the seal knows nothing about, else `rel` itself."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if prefix not in sealed_dirs and prefix not in files:
            return prefix
    return rel


# --- the signature -----------------------------------------------------------------------


def _inspect(fh: BinaryIO, size: int) -> macho.MachOSignature:
    head = fh.read(8)
    if not macho.is_macho(head):
        raise macho.MachOError("not a Mach-O file")
    return macho.inspect(fh, size)


def check_signature(
    facts: Facts, bundle: Bundle, fs: FsView, trust: TrustStore | None = None
) -> None:
    if not bundle.executable:
        return
    contents = f"{bundle.path}/Contents"
    exe = f"{contents}/MacOS/{bundle.executable}"
    client = bundle.client
    if not fs.exists(exe):
        facts.tampering.append(
            TamperFact(
                SIGNATURE,
                client.id,
                exe,
                f"Contents/MacOS/{bundle.executable}: the bundle's main executable is missing",
            )
        )
        return
    sig = computed(fs, exe, "macho-signature", _inspect)
    if sig is None:
        return  # unreadable or malformed: computed() left a blind spot
    problems: list[str] = []
    fat = len(sig.slices) > 1
    for part in sig.slices:
        prefix = f"{part.arch}: " if fat else ""
        problems.extend(
            prefix + p
            for p in _slice_problems(
                fs,
                client,
                part,
                trust or TrustStore.of(),
                exe,
                f"{contents}/Info.plist",
                f"{contents}/_CodeSignature/CodeResources",
            )
        )
    if problems:
        facts.tampering.append(
            TamperFact(
                SIGNATURE,
                client.id,
                exe,
                f"Contents/MacOS/{bundle.executable}: " + "; ".join(problems),
            )
        )


def _slice_problems(
    fs: FsView,
    client: ApprovedClient,
    part: macho.SliceSignature,
    trust: TrustStore,
    exe: str,
    info_plist: str | None,
    resources: str | None,
) -> list[str]:
    """What is wrong with one slice's signature; `info_plist` and `resources` are the files
    its special slots -1 and -3 seal (None: the code has none, e.g. a loose dylib)."""
    if not part.signed:
        return ["not code-signed at all (the signature was removed)"]
    out = list(part.problems)
    cd = part.code_directory
    if cd is None:
        return out or ["the signature holds no CodeDirectory"]
    if cd.adhoc or not part.has_cms:
        out.append(
            "ad-hoc signature with no signing certificate (re-signed with `codesign --sign -`)"
        )
    if client.team_ids and cd.team_id not in client.team_ids:
        out.append(
            f"Team ID {cd.team_id or '(none)'} is not the vendor's ({', '.join(client.team_ids)})"
        )
    elif not cd.adhoc and part.has_cms:
        out.extend(_signer_problems(fs, client, cd, part, trust, exe))
    if part.bad_page_count:
        page = cd.page_size or cd.code_limit
        where = ", ".join(f"{i * page:#x}" for i in part.bad_pages)
        out.append(
            f"{part.bad_page_count} code page(s) no longer match their signed {cd.hash_name} "
            f"hashes (at offset {where}): the executable was patched in place"
        )
    for slot, path, what in (
        (macho.SLOT_INFO_PLIST, info_plist, "Info.plist"),
        (macho.SLOT_RESOURCES, resources, "_CodeSignature/CodeResources"),
    ):
        expected = cd.special.get(slot)
        if expected is None or path is None:
            continue
        actual = _file_digest(fs, path, cd.hash_name)
        if actual is None:
            continue  # missing: the seal check says so; unreadable: a blind spot
        if actual[: cd.hash_size] != expected:
            out.append(f"{what} is not the one the signature seals (changed after signing)")
    return out


# --- nested frameworks and dylibs ----------------------------------------------------------

MAX_NESTED_CODE = 256


def nested_code(bundle: Bundle, fs: FsView) -> list[tuple[str, str, str]]:
    """(binary path, what it is, the folder its special slots' files live in, or "") of the
    frameworks and loose dylibs `bundle`'s seal lists as nested code: each version's binary
    of a framework (`Versions/*/<name>`, or `<name>` at the top of a shallow one), and the
    dylib itself. At most MAX_NESTED_CODE."""
    seal = fs.parsed(
        f"{bundle.path}/Contents/_CodeSignature/CodeResources",
        parse_seal,
        "integrity",
        MAX_SEAL_SIZE,
    )
    if seal is None:
        return []
    out: list[tuple[str, str, str]] = []
    for rel in sorted(seal.nested):
        path = f"{bundle.path}/Contents/{rel}"
        low = rel.casefold()
        if low.endswith(".dylib"):
            if _is_file(fs, path):
                out.append((path, f"Contents/{rel}", ""))
        elif low.endswith(".framework") and fs.is_dir(path):
            name = rel.rsplit("/", 1)[-1][: -len(".framework")]
            versions = [
                e.path
                for e in fs.glob(path, f"Versions/*/{name}", "integrity")
                if not e.is_dir and not e.is_symlink and "/Versions/Current/" not in e.path
            ]
            for binary in sorted(versions):
                folder = binary.rsplit("/", 1)[0]
                out.append((binary, f"Contents/{rel}{binary[len(path) :]}", folder))
            if not versions and _is_file(fs, f"{path}/{name}"):
                out.append((f"{path}/{name}", f"Contents/{rel}/{name}", path))
    return out[:MAX_NESTED_CODE]


def _is_file(fs: FsView, path: str) -> bool:
    st = fs.stat(path)
    return st is not None and stat_mod.S_ISREG(st.st_mode)


def _found(part: macho.SliceSignature) -> str:
    """What signs a slice, in both languages."""
    cd = part.code_directory
    if not part.signed or cd is None:
        return "未签名 / not signed"
    if cd.adhoc or not part.has_cms:
        return "ad-hoc 签名，没有证书 / an ad-hoc signature with no certificate"
    return f"Team ID {cd.team_id or '(无 none)'}"


def check_nested_code(
    facts: Facts, bundle: Bundle, fs: FsView, trust: TrustStore | None = None
) -> None:
    """Each nested framework's and loose dylib's own embedded signature (`nested_code`),
    judged like the main executable's: one fact per binary that fails, naming the Team IDs
    expected and what was found."""
    client = bundle.client
    teams = "/".join(client.team_ids) or "?"
    for binary, label, folder in nested_code(bundle, fs):
        sig = computed(fs, binary, "macho-signature", _inspect)
        if sig is None:
            continue  # unreadable or not Mach-O: computed() left a blind spot
        problems: list[str] = []
        found: list[str] = []
        fat = len(sig.slices) > 1
        for part in sig.slices:
            prefix = f"{part.arch}: " if fat else ""
            mine = _slice_problems(
                fs,
                client,
                part,
                trust or TrustStore.of(),
                binary,
                f"{folder}/Resources/Info.plist" if folder else None,
                f"{folder}/_CodeSignature/CodeResources" if folder else None,
            )
            if mine:
                problems.extend(prefix + p for p in mine)
                found.append(prefix + _found(part))
        if problems:
            facts.tampering.append(
                TamperFact(
                    SIGNATURE,
                    client.id,
                    binary,
                    f"{label}（内嵌代码，按其自身签名判断 / nested code, judged by its own "
                    f"signature）: 期望 expected: 经 Apple 根证书链验证、Team ID {teams} 的签名 "
                    f"/ a signature chaining to Apple's roots with Team ID {teams}; "
                    f"实际 found: {'; '.join(found)}. " + "; ".join(problems),
                )
            )


def _signer_problems(
    fs: FsView,
    client: ApprovedClient,
    cd: macho.CodeDirectory,
    part: macho.SliceSignature,
    trust: TrustStore,
    exe: str,
) -> list[str]:
    """The Team ID counts only when the CMS signs this CodeDirectory and its signer chains
    to Apple's roots (or an added anchor), and the certificate is that team's (or Apple's
    own, for Mac App Store re-signing)."""
    from checks.integrity import codesign  # asn1crypto only where a bundle is checked

    check = codesign.verify(part.cms, part.cd_digests, trust)
    expected = (
        f"期望 expected: 由 Apple 根证书链签发、Team ID {'/'.join(client.team_ids) or '?'} "
        f"/ a CMS signature chaining to Apple's roots for Team ID "
        f"{'/'.join(client.team_ids) or '?'}; 实际 found: "
    )
    if not check.readable:
        fs.note("integrity", exe, f"its CMS signature cannot be read: {check.problem}")
        return []
    if check.problem:
        return [
            f"its CMS signature does not sign this code: {check.problem}; {expected}"
            f"signer {check.signer or '(none)'}"
        ]
    if not check.trusted:
        return [
            f"signed by a certificate that does not chain to Apple's roots; {expected}"
            f"signer {check.signer} ({check.chain_problem})"
        ]
    if not check.apple_signed and check.team_id != cd.team_id:
        return [
            f"the signing certificate's team ({check.team_id or 'none'}) is not the Team ID "
            f"the code claims ({cd.team_id}); {expected}signer {check.signer}"
        ]
    return []


def _file_digest(fs: FsView, path: str, algorithm: str) -> bytes | None:
    """A whole file's digest, from the scan's caches (SHA-256 is shared with other checks)."""
    if algorithm == "sha256":
        hexdigest = fs.sha256(path, "integrity")
        return bytes.fromhex(hexdigest) if hexdigest is not None else None
    return digest_file(fs, path, algorithm)
