"""Integrity results kept across restarts of the agent.

Verifying a WeChat install means reading every vendor-signed binary once (0.5 s for 400 MB,
see docs/integrity.md); without this, every agent start (every boot) pays it again. Only the
results of whole-file reads are kept, each under the file's (size, mtime, inode, ctime)
signature exactly as in memory: a file that changed in any way is read again. The file lives
in the agent's state folder (root / SYSTEM only in system mode). A missing, unreadable or
malformed file only means a slower first scan.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checks.integrity import pe
from checks.integrity.filecache import RESULTS, FileResultCache

log = logging.getLogger("wxguard.checks.integrity")

# 2: a PE signer keeps its certificates (DER, hex), which chain verification needs; saved
# results of format 1 lack them and are ignored (one slower first scan).
FORMAT = 2


def _encode_image(value: Any) -> dict[str, Any]:
    return {"verified": value.verified, "intact": value.intact, "problem": value.problem}


def _decode_image(data: dict[str, Any]) -> object:
    from checks.integrity import authenticode  # only where Windows installs were checked

    return authenticode.ImageCheck(
        bool(data["verified"]), bool(data["intact"]), str(data["problem"])
    )


def _encode_signer(value: Any) -> dict[str, Any]:
    signer = value.signer
    return {
        "is_pe": value.is_pe,
        "signed": value.signed,
        "problem": value.problem,
        "signer": None
        if signer is None
        else [signer.organization, signer.common_name, signer.subject],
        "signer_der": value.signer_der.hex(),
        "others_der": [d.hex() for d in value.others_der],
    }


def _decode_signer(data: dict[str, Any]) -> object:
    signer = data["signer"]
    return pe.PeSignature(
        bool(data["is_pe"]),
        bool(data["signed"]),
        None if signer is None else pe.Signer(*(str(x) for x in signer)),
        str(data["problem"]),
        bytes.fromhex(str(data["signer_der"])),
        tuple(bytes.fromhex(str(d)) for d in data["others_der"]),
    )


CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], object]]] = {
    "pe-image": (_encode_image, _decode_image),
    "pe-signer": (_encode_signer, _decode_signer),
    "digest:sha1": (lambda v: v.hex(), bytes.fromhex),
    # a vendor-signed program's version strings (renamed copies of the main program)
    "pe-version": (dict, lambda v: {str(k): str(x) for k, x in dict(v).items()}),
}


def save(path: Path, cache: FileResultCache = RESULTS) -> int:
    """Write the kept kinds atomically; the number of entries written."""
    rows = [
        [p, kind, list(sig), CODECS[kind][0](value)]
        for p, kind, sig, value in cache.entries(CODECS.keys())
    ]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"format": FORMAT, "entries": rows}, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(rows)


def load(path: Path, cache: FileResultCache = RESULTS) -> int:
    """Put the saved results back; the number loaded (0 when there is nothing usable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as exc:
        log.warning("ignoring the saved integrity results in %s: %s", path, exc)
        return 0
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return 0
    loaded = 0
    for row in data.get("entries", []):
        try:
            file, kind, sig, value = row
            decode = CODECS[kind][1]
            signature = (int(sig[0]), int(sig[1]), int(sig[2]), int(sig[3]))
            cache.put(str(file), kind, signature, decode(value))
        except (KeyError, ValueError, TypeError, IndexError):
            continue  # one bad row costs one re-read, not the rest
        loaded += 1
    return loaded
