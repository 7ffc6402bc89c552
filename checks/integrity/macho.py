"""Mach-O code signatures: find, parse and check a binary's embedded CodeDirectory.

What is verified, per architecture slice (thin or fat/universal, 32/64-bit, little-endian):
the LC_CODE_SIGNATURE load command, the embedded SuperBlob and its CodeDirectories (the
strongest hash type wins, as the kernel does), the flags (ad-hoc), the Team ID, whether a
CMS signature blob is present, and every code page's hash against the file. A page that
no longer hashes to its slot is an in-place binary patch; an ad-hoc signature without a
Team ID is what `codesign --force --sign -` leaves behind (WeChatTweak).

The CMS blob and the digests of the primary CodeDirectory (slot 0, the one the CMS signs)
are kept, so that `codesign.py` can verify the CMS signature and its chain to Apple's roots.

Layout (all signature structures are big-endian) from Apple's xnu `osfmk/kern/cs_blobs.h`:
CS_SuperBlob {magic 0xfade0cc0, length, count, index[count] {type, offset}};
CS_CodeDirectory {magic 0xfade0c02, length, version, flags, hashOffset, identOffset,
nSpecialSlots, nCodeSlots, codeLimit, u8 hashSize, u8 hashType, u8 platform, u8 pageSize
(log2), spare2, scatterOffset (>= 0x20100), teamOffset (>= 0x20200), spare3,
codeLimit64 (>= 0x20300)}. Special slot -n is stored at hashOffset - n * hashSize.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

# Bounds: a malformed or hostile file cannot make us read or allocate without limit.
MAX_FAT_ARCHS = 32
MAX_LOAD_COMMANDS_SIZE = 8 * 1024 * 1024
MAX_SIGNATURE_SIZE = 64 * 1024 * 1024
MAX_BLOBS = 64
MAX_PAGE_SIZE = 1 << 20
CHUNK = 4 * 1024 * 1024
REPORTED_PAGES = 5

FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF
MH_MAGIC = 0xFEEDFACE
MH_MAGIC_64 = 0xFEEDFACF
LC_CODE_SIGNATURE = 0x1D

CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CSMAGIC_BLOBWRAPPER = 0xFADE0B01  # the CMS signature
CSSLOT_CODEDIRECTORY = 0
CSSLOT_ALTERNATE_CODEDIRECTORIES = range(0x1000, 0x1005)
CSSLOT_SIGNATURESLOT = 0x10000
CS_ADHOC = 0x2
CS_LINKER_SIGNED = 0x20000

SLOT_INFO_PLIST = 1  # special slots, by their positive index (slot -1, -3 …)
SLOT_RESOURCES = 3

# hashType -> (hashlib name, rank): the kernel prefers the strongest CodeDirectory.
HASH_TYPES: dict[int, tuple[str, int]] = {
    1: ("sha1", 1),
    2: ("sha256", 3),
    3: ("sha256", 2),  # SHA-256 truncated to 20 bytes
    4: ("sha384", 4),
}
_CPU_NAMES = {
    7: "i386",
    0x01000007: "x86_64",
    12: "arm",
    0x0100000C: "arm64",
    0x0200000C: "arm64_32",
}


class MachOError(ValueError):
    """The file is not a Mach-O we can read (malformed, truncated, unsupported)."""


@dataclass(frozen=True, slots=True)
class CodeDirectory:
    version: int
    flags: int
    hash_type: int
    hash_size: int
    page_size: int  # bytes; 0 means one page covering everything up to code_limit
    code_limit: int
    n_code_slots: int
    identifier: str
    team_id: str
    special: dict[int, bytes]  # positive slot index -> hash (all-zero slots left out)
    hash_offset: int  # where the code slots start inside `blob`
    blob: bytes = field(repr=False)

    @property
    def adhoc(self) -> bool:
        return bool(self.flags & (CS_ADHOC | CS_LINKER_SIGNED))

    @property
    def hash_name(self) -> str:
        return HASH_TYPES[self.hash_type][0]

    def code_slot(self, index: int) -> bytes:
        start = self.hash_offset + index * self.hash_size
        return self.blob[start : start + self.hash_size]

    def digest(self, data: bytes | memoryview) -> bytes:
        return hashlib.new(self.hash_name, data).digest()[: self.hash_size]


@dataclass(frozen=True, slots=True)
class SliceSignature:
    """What one architecture slice's signature says, and whether its pages still match."""

    arch: str
    offset: int  # of the slice in the file
    size: int
    signed: bool
    code_directory: CodeDirectory | None = None
    has_cms: bool = False
    bad_pages: tuple[int, ...] = ()  # the first few page indices that do not match
    bad_page_count: int = 0
    problems: tuple[str, ...] = ()  # structural inconsistencies a tamperer leaves behind
    cms: bytes = field(default=b"", repr=False)  # the CMS SignedData (DER, padding cut)
    # Digests of the primary CodeDirectory (slot 0), which the CMS signs, by hashlib name.
    cd_digests: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class MachOSignature:
    slices: tuple[SliceSignature, ...]


def is_macho(head: bytes) -> bool:
    if len(head) < 8:
        return False
    (be,) = struct.unpack(">I", head[:4])
    (le,) = struct.unpack("<I", head[:4])
    if be in (FAT_MAGIC, FAT_MAGIC_64):
        # 0xcafebabe is also a Java class file; a fat header has few architectures.
        (count,) = struct.unpack(">I", head[4:8])
        return bool(0 < count <= MAX_FAT_ARCHS)
    return le in (MH_MAGIC, MH_MAGIC_64)


def inspect(fh: BinaryIO, size: int) -> MachOSignature:
    """Parse every slice's signature and hash its code pages (raises MachOError)."""
    try:
        return _inspect(fh, size)
    except struct.error as exc:  # a short buffer slipped past a bound check: still malformed
        raise MachOError(str(exc)) from exc


def _inspect(fh: BinaryIO, size: int) -> MachOSignature:
    head = _read(fh, 0, 8, size)
    (be,) = struct.unpack(">I", head[:4])
    slices: list[tuple[str, int, int]] = []
    if be in (FAT_MAGIC, FAT_MAGIC_64):
        count = struct.unpack(">I", head[4:8])[0]
        if not 0 < count <= MAX_FAT_ARCHS:
            raise MachOError(f"fat header claims {count} architectures")
        wide = be == FAT_MAGIC_64
        entry = 32 if wide else 20
        table = _read(fh, 8, count * entry, size)
        for i in range(count):
            if wide:
                cpu, _sub, off, length, _align, _res = struct.unpack_from(">iiQQII", table, i * 32)
            else:
                cpu, _sub, off, length, _align = struct.unpack_from(">iiIII", table, i * 20)
            if off + length > size or length < 28:
                raise MachOError(f"fat slice {i} lies outside the file")
            slices.append((_CPU_NAMES.get(cpu & 0xFFFFFFFF, f"cpu {cpu:#x}"), off, length))
    else:
        slices.append(("", 0, size))
    return MachOSignature(tuple(_slice(fh, arch, off, length) for arch, off, length in slices))


def _slice(fh: BinaryIO, arch: str, base: int, size: int) -> SliceSignature:
    head = _read(fh, base, 32, base + size)
    (magic,) = struct.unpack("<I", head[:4])
    if magic not in (MH_MAGIC, MH_MAGIC_64):
        if struct.unpack(">I", head[:4])[0] in (MH_MAGIC, MH_MAGIC_64):
            raise MachOError("big-endian Mach-O is not supported")
        raise MachOError(f"not a Mach-O slice (magic {magic:#010x})")
    cpu, _sub, _ftype, ncmds, sizeofcmds, _flags = struct.unpack_from("<iiIIII", head, 4)
    arch = arch or _CPU_NAMES.get(cpu & 0xFFFFFFFF, f"cpu {cpu:#x}")
    header = 32 if magic == MH_MAGIC_64 else 28
    if sizeofcmds > MAX_LOAD_COMMANDS_SIZE or header + sizeofcmds > size:
        raise MachOError(f"{arch}: load commands ({sizeofcmds} bytes) exceed the file")
    cmds = _read(fh, base + header, sizeofcmds, base + size)
    pos = 0
    sig_off = sig_size = -1
    for _ in range(ncmds):
        if pos + 8 > len(cmds):
            raise MachOError(f"{arch}: load commands are truncated")
        cmd, cmdsize = struct.unpack_from("<II", cmds, pos)
        if cmdsize < 8 or pos + cmdsize > len(cmds):
            raise MachOError(f"{arch}: load command {cmd:#x} has a bad size {cmdsize}")
        if cmd == LC_CODE_SIGNATURE:
            if cmdsize < 16:
                raise MachOError(f"{arch}: LC_CODE_SIGNATURE is truncated")
            sig_off, sig_size = struct.unpack_from("<II", cmds, pos + 8)
        pos += cmdsize
    if sig_off < 0:
        return SliceSignature(arch, base, size, signed=False)
    if sig_size > MAX_SIGNATURE_SIZE or sig_off + sig_size > size or sig_size < 12:
        return SliceSignature(
            arch,
            base,
            size,
            signed=True,
            problems=(f"the signature ({sig_size} bytes at {sig_off:#x}) lies outside the file",),
        )
    blob = _read(fh, base + sig_off, sig_size, base + size)
    cds, has_cms, cms, primary = _superblob(blob, arch)
    if not cds:
        return SliceSignature(
            arch, base, size, True, has_cms=has_cms, problems=("no CodeDirectory",)
        )
    digests = tuple(
        (name, hashlib.new(name, primary).digest())
        for name in ("sha1", "sha256", "sha384", "sha512")
    )
    cd = max(cds, key=lambda c: HASH_TYPES[c.hash_type][1])
    problems: list[str] = []
    bad: list[int] = []
    count = 0
    limit = cd.code_limit
    if limit > size:
        problems.append(f"the signature covers {limit} bytes but the slice has only {size}")
    else:
        expected = 1 if cd.page_size == 0 else -(-limit // cd.page_size)
        if limit and cd.n_code_slots != expected:
            problems.append(f"{cd.n_code_slots} code slots for {expected} pages")
        count, bad = _verify_pages(fh, base, cd)
    if limit < sig_off:
        problems.append(f"{sig_off - limit} bytes before the signature are not covered by it")
    return SliceSignature(
        arch,
        base,
        size,
        signed=True,
        code_directory=cd,
        has_cms=has_cms,
        bad_pages=tuple(bad),
        bad_page_count=count,
        problems=tuple(problems),
        cms=cms,
        cd_digests=digests,
    )


def _superblob(blob: bytes, arch: str) -> tuple[list[CodeDirectory], bool, bytes, bytes]:
    """(CodeDirectories, whether a CMS is there, the CMS DER, the primary CD's bytes)."""
    magic, length, count = struct.unpack_from(">III", blob, 0)
    if magic != CSMAGIC_EMBEDDED_SIGNATURE:
        raise MachOError(f"{arch}: signature magic {magic:#010x} is not an embedded signature")
    if count > MAX_BLOBS or 12 + count * 8 > len(blob) or length > len(blob):
        raise MachOError(f"{arch}: signature index is truncated")
    cds: list[CodeDirectory] = []
    has_cms = False
    cms = primary = b""
    for i in range(count):
        slot, off = struct.unpack_from(">II", blob, 12 + i * 8)
        if off + 8 > len(blob):
            raise MachOError(f"{arch}: blob {slot:#x} lies outside the signature")
        bmagic, blen = struct.unpack_from(">II", blob, off)
        if blen < 8 or off + blen > len(blob):
            raise MachOError(f"{arch}: blob {slot:#x} has a bad length {blen}")
        sub = blob[off : off + blen]
        if slot == CSSLOT_CODEDIRECTORY or slot in CSSLOT_ALTERNATE_CODEDIRECTORIES:
            if bmagic != CSMAGIC_CODEDIRECTORY:
                raise MachOError(f"{arch}: slot {slot:#x} holds magic {bmagic:#010x}")
            cds.append(parse_code_directory(sub, arch))
            if slot == CSSLOT_CODEDIRECTORY:
                primary = sub
        elif slot == CSSLOT_SIGNATURESLOT:
            # `codesign -s -` writes an empty wrapper (8 bytes): ad-hoc, no CMS at all.
            has_cms = bmagic == CSMAGIC_BLOBWRAPPER and blen > 8
            if has_cms:
                cms = _der_element(sub[8:])
    return cds, has_cms, cms, primary


def _der_element(data: bytes) -> bytes:
    """The first DER element of `data` (codesign pads the CMS with zeros to its reserved
    size); `data` itself when its length cannot be read (the CMS check then says so)."""
    if len(data) < 2 or data[1] == 0x80:
        return data
    first = data[1]
    if first < 0x80:
        return data[: 2 + first]
    n = first & 0x7F
    if n > 4 or 2 + n > len(data):
        return data
    return data[: 2 + n + int.from_bytes(data[2 : 2 + n], "big")]


def parse_code_directory(blob: bytes, arch: str = "") -> CodeDirectory:
    if len(blob) < 44:
        raise MachOError(f"{arch}: CodeDirectory is truncated")
    (
        _magic,
        length,
        version,
        flags,
        hash_offset,
        ident_offset,
        n_special,
        n_code,
        code_limit,
        hash_size,
        hash_type,
        _platform,
        page_log2,
        _spare2,
    ) = struct.unpack_from(">IIIIIIIIIBBBBI", blob, 0)
    if length != len(blob):
        raise MachOError(f"{arch}: CodeDirectory length {length} disagrees with its blob")
    if hash_type not in HASH_TYPES:
        raise MachOError(f"{arch}: unknown hash type {hash_type}")
    full = hashlib.new(HASH_TYPES[hash_type][0]).digest_size
    if not 0 < hash_size <= full:
        raise MachOError(f"{arch}: hash size {hash_size} does not fit hash type {hash_type}")
    if (
        hash_offset < n_special * hash_size
        or hash_offset + n_code * hash_size > length
        or ident_offset >= length
    ):
        raise MachOError(f"{arch}: CodeDirectory offsets lie outside it")
    if page_log2 and not 1 << page_log2 <= MAX_PAGE_SIZE:
        raise MachOError(f"{arch}: page size 2^{page_log2} is implausible")
    team = ""
    if version >= 0x20200 and len(blob) >= 52:
        (team_offset,) = struct.unpack_from(">I", blob, 48)
        if team_offset:
            if team_offset >= length:
                raise MachOError(f"{arch}: Team ID offset lies outside the CodeDirectory")
            team = _cstring(blob, team_offset)
    if version >= 0x20300 and len(blob) >= 64:
        (limit64,) = struct.unpack_from(">Q", blob, 56)
        code_limit = limit64 or code_limit
    special: dict[int, bytes] = {}
    for n in range(1, n_special + 1):
        value = blob[hash_offset - n * hash_size : hash_offset - (n - 1) * hash_size]
        if any(value):
            special[n] = value
    return CodeDirectory(
        version=version,
        flags=flags,
        hash_type=hash_type,
        hash_size=hash_size,
        page_size=(1 << page_log2) if page_log2 else 0,
        code_limit=code_limit,
        n_code_slots=n_code,
        identifier=_cstring(blob, ident_offset),
        team_id=team,
        special=special,
        hash_offset=hash_offset,
        blob=blob,
    )


def _verify_pages(fh: BinaryIO, base: int, cd: CodeDirectory) -> tuple[int, list[int]]:
    """Hash each page up to codeLimit and compare with its slot: (mismatches, first few)."""
    page = cd.page_size or max(cd.code_limit, 1)
    slots = min(cd.n_code_slots, -(-cd.code_limit // page))
    bad: list[int] = []
    count = 0
    # Read whole pages in big chunks: one syscall per CHUNK, one hash call per page.
    per_chunk = max(1, CHUNK // page)
    index = 0
    fh.seek(base)
    while index < slots:
        want = min(per_chunk, slots - index)
        start = index * page
        length = min(want * page, cd.code_limit - start)
        data = memoryview(fh.read(length))
        if len(data) < length:
            raise MachOError("the file ended inside its signed code")
        for j in range(want):
            piece = data[j * page : (j + 1) * page]
            if cd.digest(piece) != cd.code_slot(index + j):
                count += 1
                if len(bad) < REPORTED_PAGES:
                    bad.append(index + j)
        index += want
    return count, bad


def _read(fh: BinaryIO, offset: int, length: int, end: int) -> bytes:
    if offset < 0 or length < 0 or offset + length > end:
        raise MachOError(f"{length} bytes at {offset:#x} lie beyond the end ({end:#x})")
    fh.seek(offset)
    data = fh.read(length)
    if len(data) != length:
        raise MachOError(f"the file ended at {offset + len(data):#x}")
    return data


def _cstring(blob: bytes, offset: int) -> str:
    end = blob.find(b"\0", offset)
    raw = blob[offset : end if end >= 0 else len(blob)]
    return raw[:256].decode("utf-8", "replace")
