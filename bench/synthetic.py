"""Synthetic machine images of a given size for the scan benchmarks."""

from __future__ import annotations

import json
import os
from pathlib import Path


def build_linux_image(root: Path, total_files: int, users: int = 5) -> Path:
    """A Linux image with about `total_files` files spread the way a workstation spreads them:
    documents and caches in homes, Python and npm packages, desktop entries, dpkg status."""
    root.mkdir(parents=True, exist_ok=True)
    made = 0
    (root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    stanzas = [
        f"Package: pkg{i}\nStatus: install ok installed\nVersion: 1.{i}\n" for i in range(1500)
    ]
    (root / "var/lib/dpkg/status").write_text("\n".join(stanzas))
    apps = root / "usr/share/applications"
    apps.mkdir(parents=True, exist_ok=True)
    for i in range(150):
        (apps / f"app{i}.desktop").write_text(
            f"[Desktop Entry]\nName=App {i}\nExec=/usr/bin/app{i}\n"
        )
    made += 151
    site = root / "usr/lib/python3/dist-packages"
    site.mkdir(parents=True, exist_ok=True)
    for i in range(300):
        d = site / f"pylib{i}-1.0.dist-info"
        d.mkdir(exist_ok=True)
        (d / "METADATA").write_text(f"Name: pylib{i}\n")
    made += 300
    nm = root / "usr/local/lib/node_modules"
    for i in range(200):
        d = nm / f"npmpkg{i}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "package.json").write_text(json.dumps({"name": f"npmpkg{i}", "version": "1.0.0"}))
    made += 200
    per_user = max(0, (total_files - made) // users)
    for u in range(users):
        home = root / "home" / f"user{u}"
        written = 0
        folder_i = 0
        while written < per_user:
            folder = (
                home
                / ["Documents", "Downloads", "projects", ".cache", "Pictures"][folder_i % 5]
                / f"d{folder_i // 5}"
                / f"e{folder_i % 7}"
            )
            folder.mkdir(parents=True, exist_ok=True)
            batch = min(50, per_user - written)
            for j in range(batch):
                (folder / f"file{j}.txt").write_bytes(b"x")
            written += batch
            folder_i += 1
        os.makedirs(home / ".config/autostart", exist_ok=True)
    return root
