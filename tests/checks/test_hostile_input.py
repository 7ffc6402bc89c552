"""Every file in a home is hostile input to a root scanner: odd names, FIFOs, links to root's
secrets, parser bombs. Each test reproduces one attack for real (real unprivileged users made
with useradd, real FIFOs, real 0600 files of root's, real undecodable names) and checks that
the scan ends, reports what it could and says where it was blind, and leaks nothing."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from checks.catalogue import load_builtin
from checks.engine import Scanner
from checks.fsview import FsView, ReadPolicy
from checks.layout import Layout, UserHome
from checks.model import Platform, ScanResult
from checks.parsers import json_depth_ok, load_json
from tests.conftest import script
from tests.support.accounts import add_user, remove_user

T = TypeVar("T")

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to make users and owners"
)

SECRET = "WXGUARD-ROOT-SECRET-7f3a"
HANG_GUARD_S = 60.0


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


@pytest.fixture(scope="module")
def accounts() -> Iterator[tuple[Account, Account]]:
    """Two real unprivileged accounts, removed afterwards."""
    made: list[Account] = []
    try:
        for _ in range(2):
            name = f"wxh{uuid.uuid4().hex[:8]}"
            entry = add_user(name)
            made.append(Account(name, entry.pw_uid, entry.pw_gid))
        yield made[0], made[1]
    finally:
        for account in made:
            remove_user(account.name)


@dataclass
class Machine:
    """A live-like machine under a temporary root: homes owned by real accounts, and a
    root-only secret outside them."""

    root: Path
    homes: dict[str, tuple[Path, Account]]
    secret: Path

    def home(self, account: Account) -> Path:
        return self.homes[account.name][0]

    def scanner(self) -> Scanner:
        users = [UserHome(n, p, os.stat(p).st_uid) for n, (p, _) in self.homes.items()]
        layout = Layout(self.root, Platform.LINUX, live=True, users=users)
        return Scanner(layout, load_builtin())

    def chown_all(self) -> None:
        """Give every home's contents to its owner, as a user's own writes would."""
        for path, account in self.homes.values():
            for dirpath, dirnames, filenames in os.walk(bytes(path)):
                for name in [*dirnames, *filenames]:
                    os.lchown(os.path.join(dirpath, name), account.uid, account.gid)
            os.lchown(path, account.uid, account.gid)


@pytest.fixture
def machine(tmp_path: Path, accounts: tuple[Account, Account]) -> Machine:
    root = tmp_path / "machine"
    homes: dict[str, tuple[Path, Account]] = {}
    for account in accounts:
        home = root / "home" / account.name
        home.mkdir(parents=True)
        home.chmod(0o700)
        homes[account.name] = (home, account)
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    secret = vault / "secret"
    secret.write_text(
        f'[Desktop Entry]\nName=WeChat Helper\nExec=/usr/bin/{SECRET}\n{{"version": "{SECRET}"}}\n'
    )
    secret.chmod(0o600)
    return Machine(root, homes, secret)


def bounded(run: Callable[[], T], seconds: float = HANG_GUARD_S) -> T:
    """`run()` on a thread; a failure (not a hang of the test run) if it does not end."""
    box: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(run())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"the scan did not end within {seconds} s (blocked on a FIFO?)")
    if errors:
        raise errors[0]
    return box[0]


def outputs(result: ScanResult) -> list[str]:
    """Everything the engine hands to a sink: the JSON document, findings, blind spots."""
    texts = [result.dumps(), result.dumps("zh")]
    texts.extend(json.dumps(f.to_json(), ensure_ascii=False) for f in result.findings)
    texts.extend(f.key for f in result.findings)
    texts.extend(json.dumps(asdict(b), ensure_ascii=False) for b in result.blind_spots)
    return texts


def assert_sinks_safe(result: ScanResult) -> None:
    for text in outputs(result):
        text.encode("utf-8")  # raises on a surrogate
        assert SECRET not in text


def rules_of(result: ScanResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def npm_package(folder: Path, name: str, version: str = "1.0.0") -> Path:
    pkg = folder / name
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": name, "version": version}))
    return pkg


# --- undecodable names -----------------------------------------------------------------


def test_undecodable_folder_name_still_reports_the_finding_as_valid_utf8(
    machine: Machine, accounts: tuple[Account, Account]
) -> None:
    home = machine.home(accounts[0])
    odd = os.path.join(bytes(home), b"a\xff\xfeb")
    os.mkdir(odd)
    with open(os.path.join(odd, b"itchat.pkl"), "wb") as fh:
        fh.write(b"session")
    machine.chown_all()
    result = bounded(machine.scanner().scan)
    found = [f for f in result.findings if f.rule_id == "itchat"]
    assert found, "the tool in an undecodable folder must still be found"
    assert_sinks_safe(result)
    doc = json.loads(result.dumps())
    paths = [e["path"] for f in doc["findings"] if f["rule_id"] == "itchat" for e in f["evidence"]]
    assert any("a\\xff\\xfeb/itchat.pkl" in p for p in paths), paths  # the bytes shown escaped


def test_cli_json_is_valid_utf8_with_undecodable_names(tmp_path: Path) -> None:
    """`wxguard check --format json` on an image with an undecodable folder name."""
    root = tmp_path / "img"
    home = root / "home" / "alice"
    home.mkdir(parents=True)
    odd = os.path.join(bytes(home), b"x\xff")
    os.mkdir(odd)
    with open(os.path.join(odd, b"itchat.pkl"), "wb") as fh:
        fh.write(b"session")
    proc = subprocess.run(
        [
            script("wxguard"),
            "check",
            "--root",
            str(root),
            "--platform",
            "linux",
            "--format",
            "json",
        ],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    text = proc.stdout.decode("utf-8")  # strict: raises on invalid UTF-8
    doc = json.loads(text)
    assert "itchat" in {f["rule_id"] for f in doc["findings"]}
    assert "x\\xff/itchat.pkl" in text.replace("\\\\", "\\")
    text_out = subprocess.run(
        [script("wxguard"), "check", "--root", str(root), "--platform", "linux"],
        capture_output=True,
        timeout=120,
    )
    text_out.stdout.decode("utf-8")


def test_cli_json_escapes_c1_controls_and_bidi_in_names(tmp_path: Path) -> None:
    """attack: `wxguard check --format json` wrote a folder name's U+009B (CSI for xterm) and
    U+202E raw to root's terminal; JSON escapes only C0 controls."""
    home = tmp_path / "img/home/alice"
    odd = home / "x\u009b2J\u202egnp\u200b"
    odd.mkdir(parents=True)
    (odd / "itchat.pkl").write_bytes(b"session")
    command = [script("wxguard"), "check", "--root", str(tmp_path / "img")]
    proc = subprocess.run(
        [*command, "--platform", "linux", "--format", "json"], capture_output=True, timeout=120
    )
    text = proc.stdout.decode("utf-8")
    assert not any(ch in text for ch in "\u009b\u202e\u200b"), "raw C1 / bidi in the output"
    paths = [e["path"] for f in json.loads(text)["findings"] for e in f["evidence"]]
    assert "home/alice/x\u009b2J\u202egnp\u200b/itchat.pkl" in paths  # the same value


# --- FIFOs and sockets at parsed paths -------------------------------------------------


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def test_fifos_at_parsed_paths_do_not_hang_the_scan(
    machine: Machine, accounts: tuple[Account, Account]
) -> None:
    home = machine.home(accounts[0])
    fifos = [
        _fifo(home / ".config/autostart/x.desktop"),
        _fifo(home / ".local/share/applications/wechat-helper.desktop"),
        _fifo(home / "proj/node_modules/left-pad/package.json"),
        _fifo(home / ".config/google-chrome/Default/Preferences"),
        _fifo(home / ".mozilla/firefox/p.default/extensions.json"),
    ]
    npm_package(home / "proj/node_modules", "wechaty")
    sock_path = home / ".config/autostart/s.desktop"
    sock = socket.socket(socket.AF_UNIX)
    short = f"/tmp/wxh-{uuid.uuid4().hex[:8]}.sock"  # AF_UNIX paths are short: bind, then move
    sock.bind(short)
    os.rename(short, sock_path)
    machine.chown_all()
    try:
        result = bounded(machine.scanner().scan)
    finally:
        sock.close()
        _release(fifos)
    assert "wechaty" in rules_of(result)
    blind = {b.what: b for b in result.blind_spots}
    for fifo in fifos:
        assert str(fifo) in blind, f"{fifo} should be a blind spot of its own"
        assert "regular file" in blind[str(fifo)].reason
    assert not any(b.what == "the whole probe" for b in result.blind_spots)
    assert_sinks_safe(result)


def _release(fifos: list[Path]) -> None:
    """Unblock any reader a broken scan left waiting, so the test run can end."""
    for fifo in fifos:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass


# --- links to root's secrets -------------------------------------------------------------


def test_links_to_a_root_only_file_leak_nothing(
    machine: Machine, accounts: tuple[Account, Account]
) -> None:
    home = machine.home(accounts[0])
    apps = home / ".local/share/applications"
    apps.mkdir(parents=True)
    (apps / "wechat-helper.desktop").symlink_to(machine.secret)
    pkg = home / "proj/node_modules/wechaty"
    pkg.mkdir(parents=True)
    (pkg / "package.json").symlink_to(machine.secret)
    (home / ".config/autostart").mkdir(parents=True)
    (home / ".config/autostart/wechat.desktop").symlink_to(machine.secret)
    # A link in a folder on the way: the final name is a plain one.
    (home / ".config/google-chrome").mkdir(parents=True)
    (home / ".config/google-chrome/Default").symlink_to(machine.secret.parent)
    machine.chown_all()
    result = bounded(machine.scanner().scan)
    assert_sinks_safe(result)
    assert "wechaty" in rules_of(result), "the package is still found by its folder"
    refused = [b for b in result.blind_spots if "not followed" in b.reason]
    assert {b.what for b in refused} >= {
        str(apps / "wechat-helper.desktop"),
        str(pkg / "package.json"),
        str(home / ".config/autostart/wechat.desktop"),
    }


def test_hard_link_or_root_owned_file_in_a_home_is_not_read(
    machine: Machine, accounts: tuple[Account, Account]
) -> None:
    """A file under a home that is not the home owner's (root put it there, or a hard link)
    is never read as root."""
    home = machine.home(accounts[0])
    apps = home / ".local/share/applications"
    apps.mkdir(parents=True)
    machine.chown_all()
    planted = apps / "wechat-helper.desktop"
    shutil.copy(machine.secret, planted)  # root-owned, 0600, inside the user's home
    result = bounded(machine.scanner().scan)
    assert_sinks_safe(result)
    assert any(
        b.what == str(planted) and "content not read" in b.reason for b in result.blind_spots
    )


def test_link_to_the_owners_own_file_is_followed(
    machine: Machine, accounts: tuple[Account, Account]
) -> None:
    home = machine.home(accounts[0])
    dotfiles = home / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "wechat-helper.desktop").write_text(
        "[Desktop Entry]\nName=WeChat Helper\nExec=/opt/helper/OWNERS-OWN-EXEC\n"
    )
    apps = home / ".local/share/applications"
    apps.mkdir(parents=True)
    (apps / "wechat-helper.desktop").symlink_to(dotfiles / "wechat-helper.desktop")
    # pnpm's layout: node_modules/<name> is a link into the store, in the same home.
    store = home / ".pnpm-store/wechaty@1.20.2/node_modules"
    npm_package(store, "wechaty", "1.20.2")
    (home / "proj/node_modules").mkdir(parents=True)
    (home / "proj/node_modules/wechaty").symlink_to(store / "wechaty")
    machine.chown_all()
    result = bounded(machine.scanner().scan)
    text = result.dumps()
    assert "OWNERS-OWN-EXEC" in text, "a link to the owner's own file is followed"
    assert "wechaty 1.20.2" in text, "pnpm's linked package is read through its link"
    assert not [b for b in result.blind_spots if "not followed" in b.reason]


# --- parser bombs ------------------------------------------------------------------------


def test_nested_bracket_bomb_is_a_blind_spot_for_that_file_only(
    machine: Machine, accounts: tuple[Account, Account]
) -> None:
    attacker, victim = accounts
    bomb = machine.home(attacker) / "proj/node_modules/bomb"
    bomb.mkdir(parents=True)
    (bomb / "package.json").write_bytes(b"[" * (1024 * 1024 - 1))
    prefs = machine.home(attacker) / ".config/google-chrome/Default/Preferences"
    prefs.parent.mkdir(parents=True)
    prefs.write_bytes(b'{"extensions": ' + b"[" * 100_000)
    weird = machine.home(attacker) / ".config/chromium/Default/Preferences"
    weird.parent.mkdir(parents=True)
    weird.write_text('{"extensions": ["not", "a", "dict"]}')
    npm_package(machine.home(victim) / "work/node_modules", "wechaty", "1.20.2")
    machine.chown_all()
    result = bounded(machine.scanner().scan)
    found = [f for f in result.findings if f.rule_id == "wechaty"]
    assert found and any("wechaty 1.20.2" in e.matched for f in found for e in f.evidence)
    blind = {b.what: b.reason for b in result.blind_spots}
    assert "could not be parsed" in blind[str(bomb / "package.json")]
    assert "could not be parsed" in blind[str(prefs)]
    assert not any(b.what == "the whole probe" for b in result.blind_spots), result.blind_spots


def test_unterminated_string_bomb_does_not_stall_the_scan(tmp_path: Path) -> None:
    """attack: `"\\"\\"…` (an unterminated string of escaped quotes) made the depth check's
    string pattern rescan the rest of the file from every quote: quadratic, about an hour of
    CPU per 1 MiB package.json, holding the GIL all along (the whole agent froze, not only its
    scan thread). Run as `wxguard check` in a process of its own so that a hang is a timeout."""
    home = tmp_path / "img/home/alice"
    bomb = home / "proj/node_modules/bomb"
    bomb.mkdir(parents=True)
    (bomb / "package.json").write_bytes(b'"' + b'\\"' * (512 * 1024 - 1))
    prefs = home / ".config/google-chrome/Default/Preferences"
    prefs.parent.mkdir(parents=True)
    prefs.write_bytes(b'{"extensions": "' + b'\\"' * (2 * 1024 * 1024))
    npm_package(tmp_path / "img/home/bob/work/node_modules", "wechaty", "1.20.2")
    command = [script("wxguard"), "check", "--root", str(tmp_path / "img")]
    try:
        proc = subprocess.run(
            [*command, "--platform", "linux", "--format", "json"],
            capture_output=True,
            timeout=HANG_GUARD_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"wxguard check did not end within {HANG_GUARD_S} s")
    doc = json.loads(proc.stdout)
    assert "wechaty" in {f["rule_id"] for f in doc["findings"]}
    blind = {b["what"]: b["reason"] for b in doc["blind_spots"]}
    assert "could not be parsed" in blind[str(bomb / "package.json")]
    assert "could not be parsed" in blind[str(prefs)]


def _limit_memory(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def test_many_links_to_one_big_package_json_do_not_exhaust_memory(tmp_path: Path) -> None:
    """attack: every parsed value was kept between scans, per path, whatever its size: 300 hard
    links to one 1 MiB package.json of 80,000 keys (1 MiB of disk) kept ~3.5 GB in the root
    agent. The scan runs with 2 GiB of address space; it must see every package."""
    home = tmp_path / "img/home/alice"
    modules = home / ".npm-global/lib/node_modules"
    home.mkdir(parents=True)
    big = home / "big.json"
    keys = b",".join(b'"k%06d":{}' % i for i in range(80_000))
    big.write_bytes(b'{"name": "x", "version": "1.0.0", ' + keys + b"}")
    for i in range(300):
        (modules / f"p{i}").mkdir(parents=True)
        os.link(big, modules / f"p{i}/package.json")
    npm_package(modules, "wechaty", "1.20.2")
    command = [script("wxguard"), "check", "--root", str(tmp_path / "img")]
    proc = subprocess.run(
        [*command, "--platform", "linux", "--format", "json"],
        capture_output=True,
        timeout=300,
        preexec_fn=_limit_memory(2 * 1024**3),
    )
    doc = json.loads(proc.stdout)
    assert "wechaty" in {f["rule_id"] for f in doc["findings"]}
    unparsed = [b for b in doc["blind_spots"] if b["what"].endswith("package.json")]
    assert not unparsed, unparsed[:3]


def test_a_profile_of_millions_of_tiny_objects_is_refused_before_parsing(tmp_path: Path) -> None:
    """attack: a 32 MiB Preferences (a profile's read limit) of `[{},{},…]` parsed into ~1 GB
    of dicts in the root agent. The element count is bounded before parsing: the scan stays
    within 768 MiB of address space, the file is a blind spot, the rest is still seen."""
    home = tmp_path / "img/home/alice"
    prefs = home / ".config/google-chrome/Default/Preferences"
    prefs.parent.mkdir(parents=True)
    count = (32 * 1024 * 1024 - 64) // 3
    prefs.write_bytes(b'{"extensions": {}, "x": [' + b",".join([b"{}"] * count) + b"]}")
    npm_package(home / ".npm-global/lib/node_modules", "wechaty", "1.20.2")
    command = [script("wxguard"), "check", "--root", str(tmp_path / "img")]
    proc = subprocess.run(
        [*command, "--platform", "linux", "--format", "json"],
        capture_output=True,
        timeout=300,
        preexec_fn=_limit_memory(768 * 1024**2),
    )
    doc = json.loads(proc.stdout)
    assert "wechaty" in {f["rule_id"] for f in doc["findings"]}
    blind = {b["what"]: b["reason"] for b in doc["blind_spots"]}
    assert blind[str(prefs)] == "could not be parsed: ValueError"


def test_a_tool_file_hidden_in_a_pruned_or_deep_folder_is_found_or_blind(tmp_path: Path) -> None:
    home = tmp_path / "img/home/alice"
    for folder in (home / "Library", home / "a/b/c/d/e"):
        folder.mkdir(parents=True)
        (folder / "itchat.pkl").write_bytes(b"session")
    command = [script("wxguard"), "check", "--root", str(tmp_path / "img")]
    proc = subprocess.run(
        [*command, "--platform", "linux", "--format", "json"], capture_output=True, timeout=120
    )
    doc = json.loads(proc.stdout)
    paths = {e["path"] for f in doc["findings"] for e in f["evidence"]}
    blind = [b for b in doc["blind_spots"] if b["probe"] == "files"]
    # Found wherever it hides (the walk has no depth limit and no pruned names a tool may use).
    assert {"home/alice/Library/itchat.pkl", "home/alice/a/b/c/d/e/itchat.pkl"} <= paths, blind


def test_json_depth_is_bounded_before_parsing() -> None:
    assert json_depth_ok(b'{"a": [1, {"b": "[[[[[[[[[["}]}')
    assert not json_depth_ok(b"[" * 1_000_000)
    assert not json_depth_ok(b"[{" * 200 + b"}]" * 200)
    assert json_depth_ok(b'["]]]]", "\\\\", "[[[' + b"[" * 500)  # an unterminated string
    assert not json_depth_ok(b"[" * 129 + b'"' + b"]" * 129)
    with pytest.raises(ValueError):
        load_json(b'{"a":' * 500 + b"1" + b"}" * 500)
    assert load_json(b'{"a":' * 20 + b"1" + b"}" * 20)


def test_parser_failure_of_any_kind_is_a_per_file_blind_spot(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{}")
    fs = FsView()

    def explode(_data: bytes) -> object:
        raise RecursionError("deep")

    assert fs.parsed(str(path), explode, "packages") is None
    assert fs.blind_spots[("packages", str(path))].reason == "could not be parsed: RecursionError"


def test_live_layout_records_home_owners() -> None:
    layout = Layout.live_machine()
    root_home = [u for u in layout.users if str(u.path) == "/root"]
    assert root_home and root_home[0].uid == 0
    policy = ReadPolicy.build(True, [("/home/x", 1000)])
    assert policy.owner("/home/x/a/b") == 1000
    assert policy.owner("/home/xy") == 0
    assert policy.owner("/usr/lib") == 0
