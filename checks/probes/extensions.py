"""Browser extensions in Chromium-family and Firefox profiles (web-WeChat unlockers live here)."""

from __future__ import annotations

from typing import Any

from checks.fsview import METADATA_LIMIT, PROFILE_LIMIT
from checks.model import ExtensionFact, Platform
from checks.parsers import load_json_object
from checks.probes.base import ProbeContext

_CHROMIUM_PROFILES: dict[Platform, tuple[tuple[str, str], ...]] = {
    Platform.LINUX: (
        ("chrome", "{config}/google-chrome"),
        ("chromium", "{config}/chromium"),
        ("edge", "{config}/microsoft-edge"),
        ("brave", "{config}/BraveSoftware/Brave-Browser"),
    ),
    Platform.MACOS: (
        ("chrome", "{app_support}/Google/Chrome"),
        ("chromium", "{app_support}/Chromium"),
        ("edge", "{app_support}/Microsoft Edge"),
        ("brave", "{app_support}/BraveSoftware/Brave-Browser"),
    ),
    Platform.WINDOWS: (
        ("chrome", "{localappdata}/Google/Chrome/User Data"),
        ("edge", "{localappdata}/Microsoft/Edge/User Data"),
        ("brave", "{localappdata}/BraveSoftware/Brave-Browser/User Data"),
        ("360", "{localappdata}/360Chrome/Chrome/User Data"),
    ),
}
_FIREFOX: dict[Platform, str] = {
    Platform.LINUX: "{home}/.mozilla/firefox",
    Platform.MACOS: "{app_support}/Firefox/Profiles",
    Platform.WINDOWS: "{appdata}/Mozilla/Firefox/Profiles",
}


def _json_object(data: bytes) -> dict[str, Any]:
    return load_json_object(data)


def collect(ctx: ProbeContext) -> None:
    platform = ctx.layout.platform
    for browser, template in _CHROMIUM_PROFILES[platform]:
        for user_data, user in ctx.places(template):
            for profile in ctx.fs.listdir(user_data, "extensions"):
                if profile.is_dir:
                    with ctx.fs.item("extensions", profile.path):
                        _chromium_profile(ctx, browser, profile.path, user)
    for folder, user in ctx.places(_FIREFOX[platform]):
        for profile in ctx.fs.listdir(folder, "extensions"):
            if profile.is_dir:
                with ctx.fs.item("extensions", profile.path):
                    _firefox_profile(ctx, profile.path, user)


def _chromium_profile(ctx: ProbeContext, browser: str, profile: str, user: str) -> None:
    seen: set[str] = set()
    for ext in ctx.fs.listdir(profile + "/Extensions", "extensions"):
        if not ext.is_dir:
            continue
        for version in ctx.fs.listdir(ext.path, "extensions"):
            manifest = ctx.fs.parsed(
                version.path + "/manifest.json", _json_object, "extensions", METADATA_LIMIT
            )
            if manifest is not None:
                seen.add(ext.name)
                ctx.facts.extensions.append(
                    ExtensionFact(
                        browser, ext.name, str(manifest.get("name", "")), version.path, user
                    )
                )
                break
    # Unpacked (side-loaded) extensions live anywhere; the profile's preferences name them.
    for prefs_name in ("Secure Preferences", "Preferences"):
        prefs = ctx.fs.parsed(profile + "/" + prefs_name, _json_object, "extensions", PROFILE_LIMIT)
        section = (prefs or {}).get("extensions") or {}
        settings = (section.get("settings") if isinstance(section, dict) else None) or {}
        if not isinstance(settings, dict):
            continue
        for ext_id, info in settings.items():
            if ext_id in seen or not isinstance(info, dict):
                continue
            manifest = info.get("manifest") or {}
            name = str(manifest.get("name", "")) if isinstance(manifest, dict) else ""
            path = str(info.get("path", ""))
            if name or path:
                seen.add(ext_id)
                ctx.facts.extensions.append(
                    ExtensionFact(browser, ext_id, name, path or profile, user)
                )


def _firefox_profile(ctx: ProbeContext, profile: str, user: str) -> None:
    data = ctx.fs.parsed(profile + "/extensions.json", _json_object, "extensions", PROFILE_LIMIT)
    addons = (data or {}).get("addons") or []
    for addon in addons if isinstance(addons, list) else []:
        if not isinstance(addon, dict):
            continue
        name = ""
        locale = addon.get("defaultLocale")
        if isinstance(locale, dict):
            name = str(locale.get("name", ""))
        ctx.facts.extensions.append(
            ExtensionFact(
                "firefox", str(addon.get("id", "")), name, str(addon.get("path", profile)), user
            )
        )
    for entry in ctx.fs.listdir(profile + "/extensions", "extensions"):
        if entry.name.endswith(".xpi"):
            ctx.facts.extensions.append(
                ExtensionFact("firefox", entry.name[:-4], "", entry.path, user)
            )
