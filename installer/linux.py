"""The Debian package: a self-contained /opt/wxguard (own Python environment), the systemd unit,
the tray's autostart entry, IT's managed config and the maintainer scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from installer.spec import LINUX_CA, LINUX_POLICY_KEY, BuildError, BuildSpec, render_toml

PREFIX = "/opt/wxguard"
UNIT_PATH = "lib/systemd/system/wxguard-agent.service"
AUTOSTART_PATH = "etc/xdg/autostart/wxguard-tray.desktop"
MENU_PATH = "usr/share/applications/wxguard-tray.desktop"
DIST_CONFIG = f"{PREFIX}/share/agent.toml.dist"
# Libraries the tray's Qt (PySide6 wheels) loads from the system on Debian 12.
TRAY_LIBS = (
    "libegl1, libgl1, libfontconfig1, libdbus-1-3, libxkbcommon-x11-0, libxcb-cursor0, "
    "libxcb-icccm4, libxcb-keysyms1, libxcb-shape0, libxcb-render-util0, libxcb-image0, "
    "libxcb-randr0, libxcb-xinerama0"
)
# Parts of PySide6 only a Qt developer uses (designer, translation tools, headers, stubs).
PYSIDE_DEV_PARTS = (
    "assistant",
    "designer",
    "linguist",
    "lrelease",
    "lupdate",
    "qmlformat",
    "qmllint",
    "qmlls",
    "svgtoqml",
    "include",
    "typesystems",
    "glue",
    "doc",
    "Qt/metatypes",
    "scripts",
    "Qt/qml",
)
# What goes into the project wheel: the packages and the files setuptools reads.
SOURCE_PARTS = (
    "pyproject.toml",
    "README.md",
    "protocol",
    "checks",
    "agent",
    "gui",
    "server",
    "installer",
)

Log = Callable[[str], None]


def template(name: str) -> str:
    return (resources.files("installer") / "templates" / "linux" / name).read_text("utf-8")


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise BuildError(f"{what}失败：\n{tail}", f"{what} failed:\n{tail}")


class Wheelhouse:
    """A folder of wheels reused across builds: installs run offline from it, and only what is
    missing is fetched from the package index (unless offline)."""

    def __init__(self, path: Path, build_python: str, offline: bool, log: Log) -> None:
        self.path = path
        self.build_python = build_python
        self.offline = offline
        self.log = log
        path.mkdir(parents=True, exist_ok=True)

    def pip(self, *args: str) -> list[str]:
        return [self.build_python, "-m", "pip", "--disable-pip-version-check", *args]

    def run(
        self, make_cmd: Callable[[], list[str]], fetch: list[str], target: str, what: str
    ) -> None:
        """Run an offline pip command; when wheels are missing, fetch `fetch` once and retry."""
        first = subprocess.run(make_cmd(), capture_output=True, text=True)
        if first.returncode == 0:
            return
        if self.offline:
            tail = "\n".join(first.stderr.strip().splitlines()[-15:])
            raise BuildError(f"{what}失败（离线）：\n{tail}", f"{what} failed (offline):\n{tail}")
        self.log(f"fetching wheels into {self.path}: {' '.join(fetch)}")
        _run(
            self.pip(
                "--python",
                target,
                "download",
                "-q",
                "--only-binary=:all:",
                "-d",
                str(self.path),
                *fetch,
            ),
            "下载依赖 / pip download",
        )
        _run(make_cmd(), what)


def _walk_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            yield Path(dirpath) / name


def _replace_in_file(path: Path, old: bytes, new: bytes) -> None:
    if path.is_symlink() or not path.is_file():
        return
    data = path.read_bytes()
    if old in data:
        mode = path.stat().st_mode
        path.write_bytes(data.replace(old, new))
        os.chmod(path, mode)


def _copy_source(source: Path, target: Path) -> None:
    """The wheel is built from a copy, so the shared work tree gets no build/ or egg-info."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    target.mkdir(parents=True)
    for part in SOURCE_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, target / part, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, target / part)


def _launcher(module: str) -> str:
    # -I: the employee's PYTHONPATH and user site-packages never reach the agent or the tray;
    # -B: nothing is ever written under /opt/wxguard (removal leaves nothing behind).
    return (
        "#!/bin/sh\n"
        f"# wxguard: runs {module}.main in wxguard's own Python environment.\n"
        f'exec {PREFIX}/venv/bin/python -I -B -c "import sys; from {module} import main; '
        f'sys.argv[0] = \\"$0\\"; sys.exit(main())" "$@"\n'
    )


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    os.chmod(path, mode)


def _dir_size_kib(root: Path) -> int:
    total = 0
    for path in _walk_files(root):
        if not path.is_symlink():
            total += path.stat().st_size
    return total // 1024 + 1


def architecture() -> str:
    result = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError("找不到 dpkg。", "dpkg is missing: build the .deb on Debian.")
    return result.stdout.strip()


def control(spec: BuildSpec, python: str, arch: str, installed_kib: int) -> str:
    return (
        "Package: wxguard\n"
        f"Version: {spec.version}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {spec.maintainer}\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {python}, {TRAY_LIBS}\n"
        "Section: admin\n"
        "Priority: optional\n"
        "Description: wxguard endpoint compliance agent for the WeChat policy\n"
        " Detects unapproved WeChat clients and plugins, reminds employees to change their\n"
        " WeChat password and carries security-incident reports to the security team.\n"
        " Installs the agent as the systemd service wxguard-agent and the tray icon at login,\n"
        f" configured for {spec.server_url}.\n"
    )


def stage_payload(spec: BuildSpec, stage: Path) -> None:
    """Everything but the Python environment: config, keys, unit, autostart, links, scripts."""
    share = stage / PREFIX.lstrip("/") / "share"
    values = spec.managed_values(LINUX_POLICY_KEY, LINUX_CA)
    _write(
        share / "agent.toml.dist",
        render_toml(values, "wxguard managed configuration baked into the package (IT)."),
        0o600,
    )
    etc = stage / "etc" / "wxguard"
    _write(etc / "policy-public.pem", spec.policy_key_pem)
    if spec.ca_pem:
        _write(etc / "server-ca.pem", spec.ca_pem)
    os.chmod(etc, 0o755)
    bin_dir = stage / PREFIX.lstrip("/") / "bin"
    _write(bin_dir / "wxguard", _launcher("agent.cli"), 0o755)
    _write(bin_dir / "wxguard-tray", _launcher("gui.main"), 0o755)
    usr_bin = stage / "usr" / "bin"
    usr_bin.mkdir(parents=True, exist_ok=True)
    for name in ("wxguard", "wxguard-tray"):
        (usr_bin / name).symlink_to(f"{PREFIX}/bin/{name}")
    _write(stage / UNIT_PATH, template("wxguard-agent.service"))
    _write(stage / AUTOSTART_PATH, template("wxguard-tray.desktop"))
    menu = template("wxguard-tray.desktop").replace("X-GNOME-Autostart-enabled=true\n", "")
    _write(stage / MENU_PATH, menu.replace("X-GNOME-Autostart-Delay=3\n", ""))
    debian = stage / "DEBIAN"
    for script in ("preinst", "postinst", "prerm", "postrm"):
        _write(debian / script, template(script).replace("@VERSION@", spec.version), 0o755)


def stage_venv(
    stage: Path, source: Path, work: Path, wheelhouse: Wheelhouse, python: str, log: Log
) -> None:
    """/opt/wxguard/venv: created in the staging root with the target's interpreter, then every
    mention of the staging root is rewritten to /opt/wxguard and the bytecode compiled with
    /opt/wxguard paths."""
    venv = stage / PREFIX.lstrip("/") / "venv"
    log(f"creating the Python environment with {python}")
    _run([python, "-m", "venv", "--without-pip", str(venv)], "创建虚拟环境 / python -m venv")
    target = str(venv / "bin" / "python")
    src = work / "src"
    _copy_source(source, src)
    wheels = work / "wheels"
    log("building the wxguard wheel")
    wheelhouse.run(
        lambda: wheelhouse.pip(
            "wheel",
            "-q",
            "--no-deps",
            "--no-index",
            "--find-links",
            str(wheelhouse.path),
            "-w",
            str(wheels),
            str(src),
        ),
        ["setuptools>=68", "wheel"],
        wheelhouse.build_python,
        "构建 wheel / pip wheel",
    )
    built = sorted(wheels.glob("wxguard-*.whl"))
    if not built:
        raise BuildError("没有生成 wxguard wheel。", "pip wheel produced no wxguard wheel.")
    log("installing wxguard and its dependencies into the environment")
    wheelhouse.run(
        lambda: wheelhouse.pip(
            "--python",
            target,
            "install",
            "-q",
            "--no-index",
            "--no-compile",
            "--no-warn-script-location",
            "--find-links",
            str(wheelhouse.path),
            f"{built[0]}[gui]",
        ),
        [f"{built[0]}[gui]"],
        target,
        "安装依赖 / pip install",
    )
    site = next((venv / "lib").glob("python3*/site-packages"))
    for stale in wheelhouse.path.glob("wxguard-*.whl"):
        stale.unlink()  # `pip download` copies the local wheel; the next build makes its own
    for direct_url in site.glob("wxguard-*.dist-info/direct_url.json"):
        # Names the temporary wheel; the package is not "installed from a URL" on workstations.
        direct_url.unlink()
        record = direct_url.with_name("RECORD")
        lines = record.read_text("utf-8").splitlines(keepends=True)
        record.write_text("".join(x for x in lines if "direct_url.json" not in x), "utf-8")
    for part in PYSIDE_DEV_PARTS:
        path = site / "PySide6" / part
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for stub in (site / "PySide6").glob("*.pyi"):
        stub.unlink()
    staged, final = str(venv).encode(), f"{PREFIX}/venv".encode()
    for path in _walk_files(venv / "bin"):
        _replace_in_file(path, staged, final)
    _replace_in_file(venv / "pyvenv.cfg", staged, final)
    log("compiling bytecode for /opt/wxguard")
    _run(
        [target, "-m", "compileall", "-q", "-j", "0", "-s", str(stage), "-p", "/", str(site)],
        "编译字节码 / compileall",
    )
    marker = str(work).encode()
    leftovers = [p for p in _walk_files(venv) if not p.is_symlink() and marker in p.read_bytes()]
    if leftovers:
        raise BuildError(
            f"以下文件仍引用构建目录：{leftovers[:5]}",
            f"these files still name the build folder: {leftovers[:5]}",
        )


def build_deb(
    spec: BuildSpec,
    source: Path,
    out: Path,
    wheelhouse: Path,
    python: str = "/usr/bin/python3",
    offline: bool = False,
    log: Log = print,
    build_python: str | None = None,
) -> Path:
    if shutil.which("dpkg-deb") is None:
        raise BuildError("找不到 dpkg-deb。", "dpkg-deb is missing: build the .deb on Debian.")
    real_python = os.path.realpath(python)
    if not os.access(real_python, os.X_OK):
        raise BuildError(f"找不到 Python：{python}", f"No Python interpreter at {python}.")
    python_package = Path(real_python).name  # python3.11: the venv's binaries are built for it
    out.mkdir(parents=True, exist_ok=True)
    house = Wheelhouse(wheelhouse, build_python or sys.executable, offline, log)
    with tempfile.TemporaryDirectory(prefix="wxguard-deb-") as tmp:
        work = Path(tmp)
        stage = work / "root"
        stage.mkdir()
        stage_payload(spec, stage)
        docs = source / "docs" / "deploy.md"
        if docs.is_file():
            _write(
                stage / PREFIX.lstrip("/") / "share" / "doc" / "deploy.md", docs.read_text("utf-8")
            )
        stage_venv(stage, source, work, house, real_python, log)
        (stage / "DEBIAN" / "control").write_text(
            control(spec, python_package, architecture(), _dir_size_kib(stage)), "utf-8"
        )
        for dirpath, _dirs, _files in os.walk(stage):
            os.chmod(dirpath, 0o755)  # whatever the builder's umask
        deb = out / f"wxguard_{spec.version}_{architecture()}.deb"
        log(f"packing {deb}")
        _run(
            ["dpkg-deb", "--build", "--root-owner-group", "-Zzstd", "-z9", str(stage), str(deb)],
            "打包 / dpkg-deb --build",
        )
    return deb
