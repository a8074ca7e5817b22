"""Which Chromium renders pages, and the scrapy-playwright settings that launch it.

Looked for the way a user expects: the configured executable (RENDER_BROWSER_PATH, or `executable_path` in
PLAYWRIGHT_LAUNCH_OPTIONS), else the browser `playwright install chromium` put in Playwright's cache, else
the system's Chromium (Debian's `chromium` package: /usr/bin/chromium). Finding it only reads the file system,
so the add-on can decide at start-up whether the browser download handler is installed at all.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy.settings import BaseSettings

from crawler.config import RenderConfig

HANDLER = "crawler.browserhandler.BrowserHandler"  # scrapy-playwright's, shared by both schemes
HTTP_HANDLER = "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler"
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SYSTEM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium")
# Background services that would call Google on a closed network (refused connections at every start), and
# the GPU, which a headless crawler does not have.
CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-gpu", "--disable-dev-shm-usage",
                 # WebRTC opens UDP outside request routing (crawler/guard.py cannot check it): none of it
                 "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"]
# Inside Playwright's browser folder, per platform.
_PLAYWRIGHT_BINARIES = ("chrome-linux*/chrome", "chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
                        "chrome-win*/chrome.exe")


class BrowserNotFoundError(RuntimeError):
    """No Chromium where we looked; the message names every place."""


@dataclass(frozen=True)
class Browser:
    """A Chromium we can launch: its path and where it was found (configured | playwright | system)."""

    path: Path
    source: str


def playwright_cache() -> Path:
    """Where `playwright install` puts browsers (PLAYWRIGHT_BROWSERS_PATH, else the per-user cache)."""
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured == "0":
        import playwright  # noqa: PLC0415  (only to locate the package)

        return Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"
    if configured:
        return Path(configured)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ms-playwright"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "ms-playwright"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ms-playwright"


def playwright_chromium() -> Path | None:
    """The Chromium build this Playwright version expects, if `playwright install chromium` installed it."""
    try:
        import playwright  # noqa: PLC0415

        manifest = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
        browsers = json.loads(manifest.read_text(encoding="utf-8"))["browsers"]
        revision = next(b["revision"] for b in browsers if b["name"] == "chromium")
    except (ImportError, OSError, ValueError, KeyError, StopIteration):
        return None
    folder = playwright_cache() / f"chromium-{revision}"
    for pattern in _PLAYWRIGHT_BINARIES:
        for candidate in sorted(folder.glob(pattern)):
            if os.access(candidate, os.X_OK):
                return candidate
    return None


def system_chromium() -> Path | None:
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return next((Path(p) for p in SYSTEM_PATHS if os.access(p, os.X_OK)), None)


def find_browser(config: RenderConfig, launch_options: dict[str, Any] | None = None) -> Browser:
    """The Chromium to launch, in the order a user expects; BrowserNotFoundError names all three places."""
    configured = config.browser_path or (launch_options or {}).get("executable_path") or ""
    if configured:
        path = Path(configured).expanduser()
        if os.access(path, os.X_OK) and path.is_file():
            return Browser(path, "configured")
        raise BrowserNotFoundError(f"RENDER_BROWSER_PATH: {path} is not an executable file")
    own = playwright_chromium()
    if own is not None:
        return Browser(own, "playwright")
    system = system_chromium()
    if system is not None:
        return Browser(system, "system")
    raise BrowserNotFoundError(
        "no Chromium found: RENDER_BROWSER_PATH is not set, Playwright's browser is not installed in "
        f"{playwright_cache()} (run `playwright install chromium`), and there is no system Chromium "
        f"({', '.join(SYSTEM_PATHS)}; on Debian/Ubuntu: apt-get install chromium)")


def describe(config: RenderConfig, launch: dict[str, Any]) -> str:
    """One line for a person: which Chromium renders pages, or why none will."""
    if not config.enabled:
        return "rendering: off (RENDER_ENABLED); pages that need JavaScript are crawled as their static HTML"
    try:
        found = find_browser(config, launch)
    except BrowserNotFoundError as exc:
        return f"rendering: {exc}; pages that need JavaScript are crawled as their static HTML and listed below"
    return f"rendering: Chromium at {found.path} ({found.source}), for the pages that need it"


def launch_options(browser: Browser, user: dict[str, Any]) -> dict[str, Any]:
    """Headless, our flags, and the sandbox on unless we run as root (Chromium refuses to start then)."""
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    options: dict[str, Any] = {"headless": True, "chromium_sandbox": not as_root,
                               "args": CHROMIUM_ARGS + list(user.get("args", []))}
    if browser.source != "playwright":  # Playwright finds its own build (and its headless shell) itself
        options["executable_path"] = str(browser.path)
    options.update({k: v for k, v in user.items() if k != "args"})
    return options


def install(settings: BaseSettings, config: RenderConfig, browser: Browser) -> None:
    """Route http(s) through scrapy-playwright's handler: requests without `playwright` in their meta still
    take Scrapy's own HTTP/1.1 path, byte for byte as before."""
    for scheme in ("http", "https"):
        settings["DOWNLOAD_HANDLERS"].set(scheme, HANDLER, priority="addon")
    user = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", launch_options(browser, user), priority="addon")
    settings.set("PLAYWRIGHT_BROWSER_TYPE", "chromium", priority="addon")
    settings.set("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT", config.max_pages, priority="addon")
    settings.set("PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT", config.timeout * 1000, priority="addon")
    settings.set("PLAYWRIGHT_ABORT_REQUEST", "crawler.recorder.abort_request", priority="addon")


def uninstall(settings: BaseSettings) -> None:
    """Back to Scrapy's HTTP handler, for a site that never renders: no browser driver is started."""
    for scheme in ("http", "https"):
        settings["DOWNLOAD_HANDLERS"].set(scheme, HTTP_HANDLER, priority="spider")


def main() -> int:
    """`python -m crawler.browser`: which Chromium the project's settings find; exit 1 when none."""
    from scrapy.utils.project import get_project_settings  # noqa: PLC0415

    from crawler.config import render_config  # noqa: PLC0415

    settings = get_project_settings()
    config = render_config(settings)
    try:
        found = find_browser(config, settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    except BrowserNotFoundError as exc:
        print(exc)
        return 1
    print(f"Chromium: {found.path} ({found.source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
