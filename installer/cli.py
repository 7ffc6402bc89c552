"""`wxguard-installer`: build the packages IT pushes to workstations, with the server address,
the enrollment secret and the pinned keys baked in."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from installer.spec import BuildError, BuildSpec, parse_setting, project_version

PLATFORMS = ("linux", "macos", "windows")


def default_source() -> Path:
    """The source tree this installer belongs to (an editable install), else the current folder."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def default_wheelhouse() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "wxguard-installer" / "wheelhouse"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wxguard-installer",
        description="Build wxguard's packages for IT (Linux .deb; macOS and Windows sources).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser(
        "build",
        help="build the packages with the server, secret and keys baked in",
        description=(
            "Linux: a .deb built here. macOS: a payload, LaunchDaemon/LaunchAgent, scripts and "
            "a configuration profile, with build.sh to run on a Mac. Windows: a WiX v4 source, "
            "ADMX/ADML templates and build.ps1 to run on Windows. See docs/deploy.md."
        ),
    )
    build.add_argument("--server", required=True, help="the server's URL, https://…")
    build.add_argument(
        "--secret-file",
        type=Path,
        help="file holding an enrollment secret (`wxguard-server secret create`); without it "
        "the secret is supplied at install time",
    )
    build.add_argument("--ca", type=Path, help="PEM of the CA that signed the server's TLS cert")
    build.add_argument(
        "--policy-key", type=Path, required=True, help="the server's policy-public.pem"
    )
    build.add_argument("--out", type=Path, required=True, help="output folder")
    build.add_argument("--platform", choices=(*PLATFORMS, "all"), default="all")
    build.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another managed setting, e.g. scan_interval_s=1800 (docs/agent-config.md)",
    )
    build.add_argument("--version", help="package version (default: the project's)")
    build.add_argument("--maintainer", help='Debian "Maintainer:" (default: wxguard IT)')
    build.add_argument("--source", type=Path, default=None, help="the wxguard source tree")
    build.add_argument(
        "--python",
        default="/usr/bin/python3",
        help="the workstations' interpreter the .deb's environment uses (default: Debian's)",
    )
    build.add_argument(
        "--wheelhouse", type=Path, default=None, help="wheel cache reused across builds"
    )
    build.add_argument(
        "--offline", action="store_true", help="use only the wheelhouse, never the index"
    )
    return parser


def run_build(args: argparse.Namespace) -> list[Path]:
    source = (args.source or default_source()).resolve()
    spec = BuildSpec.create(
        server_url=args.server,
        policy_key=args.policy_key,
        version=args.version or project_version(source),
        secret_file=args.secret_file,
        ca=args.ca,
        settings=dict(parse_setting(item) for item in args.set),
        maintainer=args.maintainer,
    )
    out: Path = args.out.resolve()
    platforms = PLATFORMS if args.platform == "all" else (args.platform,)
    produced: list[Path] = []
    for platform in platforms:
        if platform == "linux":
            from installer.linux import build_deb

            produced.append(
                build_deb(
                    spec,
                    source,
                    out / "linux",
                    args.wheelhouse or default_wheelhouse(),
                    python=args.python,
                    offline=args.offline,
                    log=lambda line: print(f"linux: {line}", flush=True),
                )
            )
        elif platform == "macos":
            from installer.macos import build_macos

            produced.append(build_macos(spec, out / "macos"))
        else:
            from installer.windows import build_windows

            produced.append(build_windows(spec, out / "windows"))
    return produced


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        produced = run_build(args)
    except BuildError as exc:
        print(f"错误：{exc.zh}\nerror: {exc.en}", file=sys.stderr)
        return 2
    for path in produced:
        print(path)
    return 0
