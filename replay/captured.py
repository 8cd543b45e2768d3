"""Real captured Reuters pages (../shared/pages/reuters/*.html), served byte for byte at their canonical URLs.

The shared directory is located relative to the repo root (override: NEWSARCHIVE_SHARED); when it is
missing the replay simply has no captured pages.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

# Pages whose canonical URL cannot be read from the file itself.
KNOWN = {"2020-parasite-sag-awards.html": "https://www.reuters.com/article/us-awards-sag-idUSKBN1ZI0EH"}


@dataclass(frozen=True)
class Captured:
    url: str
    path: Path
    published: datetime


def shared_dir() -> Path:
    env = os.environ.get("NEWSARCHIVE_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def load_captured(root: Path | None = None) -> dict[str, Captured]:
    """``{url path (no trailing slash): Captured}`` for www.reuters.com."""
    d = (root or shared_dir()) / "pages" / "reuters"
    out: dict[str, Captured] = {}
    if not d.is_dir():
        return out
    for f in sorted(d.glob("*.html")):
        head = f.read_bytes()[:200_000].decode("utf-8", "replace")
        m = re.search(r'<link rel="canonical" href="([^"]+)"', head)
        url = KNOWN.get(f.name) or (m.group(1) if m else None)
        p = re.search(r'published_time" content="([^"]+)"', head) or re.search(r'"datePublished":"([^"]+)"', head)
        if not url or not p:
            continue
        published = datetime.fromisoformat(p.group(1).replace("Z", "+00:00"))
        out[urlsplit(url).path.rstrip("/")] = Captured(url, f, published)
    return out
