"""The web console: static files shipped in this package, served by the API process itself.

The console is plain HTML, CSS and native ES modules written for this project (no build step,
no third-party front-end code, nothing fetched from a CDN): it works from the installed wheel
on a machine without internet, and it calls the same REST API as every other client.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent / "console-ui"  # not an identifier: setuptools sees data, not a package
INDEX = ROOT / "index.html"
MOUNT = "/console"


def wants_html(accept: str | None) -> bool:
    """A browser navigating asks for HTML before JSON; API clients ask for JSON or anything."""
    for part in (accept or "").split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("text/html", "application/xhtml+xml"):
            return True
        if media in ("application/json", "*/*"):
            return False
    return False
