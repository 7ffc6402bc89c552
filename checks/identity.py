"""Approved-client identities: is this process or app an official client, or only named like one?

Identity is never a name alone: a process is an official client when its name is one of the
client's process names *and* its executable lies in the client's install tree; an app when
its bundle id, package or uninstall key is the client's *and* it lives where the client
installs. Anything named like WeChat that is none of them is "unrecognised".
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field

from checks.catalogue import ApprovedClient
from checks.fsview import FsView
from checks.layout import Layout
from checks.model import AppFact, Platform, ProcessFact, Text
from checks.parsers import parse_desktop_exec
from checks.probes.processes import program_names
from checks.trust import TrustStore

# Names that mean "a WeChat client" in any of its spellings. `weechat` (an IRC client) does
# not contain "wechat", and `wx` alone (wxWidgets) is deliberately absent.
_WECHAT_LIKE = re.compile(r"wechat|weixin|xwechat|wxwork|wecom|wework|微信|企业微信", re.IGNORECASE)
# Words that, next to a WeChat-like name, mean a library or SDK rather than a client.
_NOT_CLIENT = re.compile(
    r"wechatpy|wechat[-_]?sdk|miniprogram|mini-program|weixin-js-sdk", re.IGNORECASE
)


@functools.lru_cache(maxsize=8192)
def looks_like_wechat(name: str) -> bool:
    return bool(_WECHAT_LIKE.search(name)) and not _NOT_CLIENT.search(name)


def _norm(path: str, fold: bool) -> str:
    path = path.replace("\\", "/").rstrip("/")
    return path.casefold() if fold else path


@dataclass(slots=True)
class ClientIndex:
    """The approved clients of one platform with their install trees resolved on this root."""

    clients: list[ApprovedClient]
    layout: Layout
    fold: bool = False
    roots: dict[str, list[str]] = field(default_factory=dict)
    trust: TrustStore = field(default_factory=TrustStore.of)
    # (ecosystem, name) of the packages the machine's package databases record; set by the
    # engine before judging (`note_packages`), read by the app-store layout rule.
    installed: set[tuple[str, str]] = field(default_factory=set)
    fs: FsView | None = None  # to read signatures of programs outside the install trees

    def note_packages(self, apps: list[AppFact]) -> None:
        self.installed = {
            (a.source, a.app_id) for a in apps if a.source in ("dpkg", "flatpak", "snap")
        }

    @classmethod
    def build(
        cls,
        clients: list[ApprovedClient],
        layout: Layout,
        fs: FsView,
        anchors: tuple[str, ...] = (),
    ) -> ClientIndex:
        """`anchors`: PEM certificates trusted besides the shipped roots (see checks.trust)."""
        index = cls(clients, layout, layout.case_insensitive, trust=TrustStore.of(anchors), fs=fs)
        for client in clients:
            resolved: list[str] = []
            for template in client.install_paths:
                try:
                    expanded = list(layout.expand(template))
                except ValueError:
                    continue
                for base, pattern, _ in expanded:
                    if not pattern:
                        resolved.append(_norm(base, index.fold))
                    elif "*" in pattern or "?" in pattern:
                        resolved.extend(
                            _norm(e.path, index.fold) for e in fs.glob(base, pattern) if e.is_dir
                        )
                    else:
                        resolved.append(_norm(base.rstrip("/") + "/" + pattern, index.fold))
            index.roots[client.id] = resolved
        return index

    def install_root_of(self, path: str) -> tuple[ApprovedClient, str] | None:
        """The client whose install tree holds `path`, and that tree's root."""
        target = _norm(path, self.fold)
        for client in self.clients:
            for root in self.roots.get(client.id, []):
                if target == root or target.startswith(root + "/"):
                    return client, root
        return None

    def is_family_process(self, proc: ProcessFact) -> bool:
        """A process of the WeChat family: official names, or named like WeChat."""
        names = {n.casefold() for n in program_names(proc)}
        for client in self.clients:
            if names & {n.casefold() for n in client.process_names}:
                return True
        return any(looks_like_wechat(n) for n in names)

    def approved_process(self, proc: ProcessFact) -> ApprovedClient | None:
        if not proc.exe:
            return None
        names = {n.casefold() for n in program_names(proc)}
        hit = self.install_root_of(proc.exe)
        if hit is None:
            # Installed somewhere else (another drive, a portable folder): its signer decides.
            for client in self.clients:
                if names & {n.casefold() for n in client.process_names} and self.vendor_signed(
                    client, proc.exe
                ):
                    return client
            return None
        client, _ = hit
        if names & {n.casefold() for n in client.process_names}:
            return client
        return None

    def vendor_signed(self, client: ApprovedClient, path: str) -> bool:
        """Is `path` a PE file signed by one of the client's `signers` through a chain to a
        trust anchor, and unchanged since? (Windows; False wherever that cannot be shown.)"""
        if self.fs is None or not client.signers or self.layout.platform is not Platform.WINDOWS:
            return False
        from checks.integrity import pe
        from checks.integrity.filecache import computed

        sig = computed(self.fs, path, "pe-signer", pe.inspect, "identity", reads_whole=False)
        certs = sig.certificates() if sig is not None else None
        if sig is None or sig.signer is None or certs is None:
            return False
        vendor = {pe.normalise_signer(v) for v in client.signers}
        who = {
            pe.normalise_signer(sig.signer.organization),
            pe.normalise_signer(sig.signer.common_name),
        }
        if not who & vendor or not self.trust.verify(*certs).trusted:
            return False
        from checks.integrity import authenticode

        check = computed(self.fs, path, "pe-image", authenticode.verify_image, "identity")
        return check is not None and check.verified and check.intact

    def approved_app(self, app: AppFact) -> ApprovedClient | None:
        for client in self.clients:
            if self._app_is(client, app):
                return client
        return None

    def _app_is(self, client: ApprovedClient, app: AppFact) -> bool:
        under = self.install_root_of(app.path) if app.path else None
        in_tree = under is not None and under[0].id == client.id
        if app.source == "bundle":
            return app.app_id in client.bundle_ids and in_tree
        if app.source == "desktop":
            if app.app_id not in client.desktop_ids:
                return False
            program = parse_desktop_exec(app.exe)
            if not program:
                return False
            if program.rsplit("/", 1)[-1] == "flatpak":
                # Flatpak's exported launcher: `flatpak run … <app id>`; the app id must be an
                # approved flatpak package (its own record under /var/lib/flatpak is checked
                # as the "flatpak" app).
                flatpak_id = app.app_id[: -len(".desktop")]
                return ("flatpak", flatpak_id) in client.packages and flatpak_id in app.exe
            if "/" not in program:
                return program.casefold() in {n.casefold() for n in client.process_names}
            store = _APP_STORE.match(program)
            if store is not None:
                # UOS/deepin app-store layout: the package named by the folder must be in the
                # package database and approved; a tree copied there proves nothing.
                package = ("dpkg", store.group(1))
                return package in client.packages and package in self.installed
            hit = self.install_root_of(self.layout.root.as_posix().rstrip("/") + program)
            return (hit is not None and hit[0].id == client.id) or program in _known_links(client)
        if app.source in ("dpkg", "flatpak", "snap"):
            return (app.source, app.app_id) in client.packages
        if app.source == "appimage":
            return any(f"sha256:{d}" in app.identity.split() for d in client.appimage_sha256)
        if app.source == "msix":
            return _msix_is(client, app)
        if app.source == "uninstall":
            tencent = (
                not app.publisher
                or "tencent" in app.publisher.casefold()
                or "腾讯" in app.publisher
            )
            return app.app_id in client.uninstall_keys and tencent
        if app.source == "program-files":
            if in_tree:
                return True
            # A folder elsewhere (`Program Files/WeChat`, another drive's image): the client
            # when its main program there is the vendor's, by signature.
            if app.exe:
                return app.exe.replace("\\", "/").rsplit("/", 1)[-1].casefold() in {
                    m.casefold() for m in client.main_executables
                } and self.vendor_signed(client, app.exe)
            return any(
                self.vendor_signed(client, f"{app.path}/{main}") for main in client.main_executables
            )
        return False

    def unverified(self, app: AppFact) -> Text | None:
        """Why a WeChat-like app that no identity approves is only "unverified": its name and
        place are an official form's and nothing readable says otherwise. None when it is
        not (then it is a finding). Decided in docs/official-forms.md."""
        if app.source != "appimage" or not _OFFICIAL_APPIMAGE.match(app.app_id):
            return None
        kinds = app.identity.split()
        if "appimage:official-layout" in kinds:
            return Text(
                zh="该 AppImage 的内容与腾讯官方 AppImage 一致（桌面项、AppRun、opt/wechat），"
                "但其 SHA-256 不在官方发布清单中，无法离线确认为官方版本。",
                en="this AppImage holds what Tencent's AppImage holds (desktop entry, AppRun, "
                "opt/wechat) but its SHA-256 is not on the official release list: it cannot be "
                "proven official offline.",
            )
        if "appimage:unreadable" in kinds:
            return Text(
                zh="文件名与位置符合官方 AppImage，但内容无法读取，未能确认。",
                en="name and place match the official AppImage, but its content could not be "
                "read: not verified.",
            )
        return None

    def expected_for(self, app: AppFact) -> str:
        """The identities an app of this kind would need to be approved (for a finding)."""
        if app.source == "appimage":
            return (
                "Tencent's AppImage: desktop entry Name=WeChat/微信, Exec=AppRun, "
                "opt/wechat/wechat and libwechatcommon.so inside, or an official release SHA-256"
            )
        if app.source in ("dpkg", "flatpak", "snap"):
            names = [f"{e}:{n}" for c in self.clients for e, n in c.packages if e == app.source]
            return "a package of an approved client: " + (", ".join(names) or "(none)")
        if app.source == "msix":
            fams = [f for c in self.clients for f in c.msix_families]
            return "an MSIX under WindowsApps of family " + (", ".join(fams) or "(none)")
        if app.source == "bundle":
            ids = [
                f"{b} (Team ID {'/'.join(c.team_ids) or '?'})"
                for c in self.clients
                for b in c.bundle_ids
            ]
            return "an approved bundle id in its install place: " + ", ".join(ids)
        return "an approved client's identity (package, signer, install place)"


_APP_STORE = re.compile(r"^/opt/apps/([^/]+)/")
# The names Tencent's download page gives its AppImage (WeChatLinux_x86_64.AppImage, …),
# with a version or a browser's " (1)" for a second download; anything else is renamed.
_OFFICIAL_APPIMAGE = re.compile(
    r"^(wechat|weixin)(linux)?([-_. ]?(x86_64|amd64|arm64|aarch64|loong\w*))?"
    r"([-_. ]?v?[\d.]+)?( ?\(\d+\))?\.appimage$",
    re.IGNORECASE,
)


def _msix_is(client: ApprovedClient, app: AppFact) -> bool:
    """An MSIX package whose AppxManifest.xml (read under WindowsApps only) names an
    approved package family and publisher."""
    for item in app.identity.split():
        if not item.startswith("msix:"):
            continue
        family, _, publisher = item[len("msix:") :].partition("|")
        publisher = publisher.replace("%20", " ")  # the probe encodes spaces
        if any(fnmatch.fnmatchcase(family, f) for f in client.msix_families) and (
            not client.msix_publishers
            or any(fnmatch.fnmatchcase(publisher, p) for p in client.msix_publishers)
        ):
            return True
    return False


def _known_links(client: ApprovedClient) -> set[str]:
    """Launchers packages put on PATH that point into the install tree (e.g. /usr/bin/wechat)."""
    return {"/usr/bin/" + name for name in client.process_names}
