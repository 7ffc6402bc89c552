"""Recall on real tool packages as if nobody had catalogued them: each wheel (downloaded
with `pip download --no-deps`, cached in .cache/registry/) is installed alone into a Windows
image and scanned with the shipped catalogue minus every `package` indicator naming the
packages below, so only what they *are* (metadata, content) can find them.

Run `python -m bench.heldout`; it prints each package's findings and the totals.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

from checks.api import scan_image
from checks.catalogue import Catalogue, load_builtin
from tests.checks.registry import install_wheel, wheel

# Real PyPI tool packages, 2023-2026 (docs/catalogue-additions.md, issue 15 section).
PACKAGES = (
    "legendwcf",
    "vchat",
    "at-hefang",
    "chatautox",
    "daochu",
    "dfl-utils",
    "efb-wechat-comwechat-slave",
    "forcomebot",
    "fuwujiqiren",
    "gcwxauto",
    "iflow-mcp-winautowx",
    "kklove-hefang",
    "lingtai-wechat",
    "liuteacher",
    "mcp-server-wechat",
    "mcp-wechat",
    "nonebot-adapter-ntchat",
    "opengewe",
    "pgwxauto",
    "pywxauto",
    "pywxbot",
    "pywxdll",
    "pywxtool",
    "qianxun-wechat-sdk",
    "reywechat",
    "treetree",
    "wcf-http-server",
    "wcflink",
    "wdecipher",
    "wechat-backup",
    "wechat-claudecode-mcp",
    "wechat-cli",
    "wechat-copilot",
    "wechat-extractor",
    "wechatbridge-cli",
    "weclaw-cua",
    "whochat",
    "wx-mcp-server",
    "wxautoz",
    "wxminer",
    "xmcp-server-wxauto",
    "haowxdump",
    "wcfhttp",
)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def held_out(catalogue: Catalogue, names: set[str]) -> Catalogue:
    rules = []
    for rule in catalogue.rules:
        kept = tuple(
            m for m in rule.matches if not (m.type == "package" and _norm(m.name) in names)
        )
        if kept:
            rules.append(replace(rule, matches=kept))
    return Catalogue(rules, list(catalogue.clients), set(), yara=list(catalogue.yara))


def _dist_name(whl: Path) -> str:
    with zipfile.ZipFile(whl) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        found = re.search(r"^Name: (.*)$", zf.read(meta).decode("utf-8", "replace"), re.M)
    return _norm(found.group(1).strip()) if found else whl.name


def main() -> None:
    wheels = [wheel(name) for name in PACKAGES]
    full = load_builtin()
    held = held_out(full, {_dist_name(w) for w in wheels} | {_norm(n) for n in PACKAGES})
    for label, catalogue in (("held out", held), ("shipped", full)):
        found = 0
        for whl in wheels:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                (root / "Users/alice").mkdir(parents=True)
                install_wheel(whl, root / "Users/alice/.venv/Lib/site-packages")
                ids = sorted(
                    {f.rule_id for f in scan_image(str(root), "windows", catalogue).findings}
                )
            found += bool(ids)
            if label == "held out":
                print(f"  {whl.name[:50]:<50} {', '.join(ids) or '-'}")
        print(f"{label}: {found} of {len(wheels)} packages found")


if __name__ == "__main__":
    main()
