"""wxguard agent: the service that keeps checking the workstation, and its command line."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("wxguard")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
