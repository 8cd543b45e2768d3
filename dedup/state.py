"""Dedup state that outlives a run, kept beside the lake under ``<archive>/index/``.

    index/neardup/              MinHash signatures (append-only segments, dedup.neardup)
    index/stories/meta.json     story index parameters and term statistics (dedup.stories)
    index/stories/YYYY-MM.json  the story index's articles published in that month
    index/boilerplate.json      learned per-site boilerplate paragraphs (dedup.boilerplate)

Stories are partitioned by publication month because a story only joins articles
within a few days of each other: a run restricted to a window (a backfill chunk,
a scheduled run with lookback_days) loads only the months around it, so memory
and load/save time stay flat as the archive grows.

Saved after the run's lake commit. A crash in between leaves the indexes one run
behind the lake: the next run derives nothing wrongly (a URL never matches
itself), it only misses matches against that run's articles.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .boilerplate import BoilerplateLearner
from .neardup import NearDupIndex
from .stories import StoryIndex


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    os.replace(tmp, path)


def _month(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m")


def _months_between(start: datetime, end: datetime) -> set[str]:
    out, cur = set(), start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while cur <= end:
        out.add(cur.strftime("%Y-%m"))
        cur = (cur + timedelta(days=32)).replace(day=1)
    return out


def load_stories(root: Path, since: datetime | None = None, until: datetime | None = None) -> StoryIndex:
    """The story index, with only the months that can matter for articles in [since, until]."""
    meta_path = root / "meta.json"
    if not meta_path.exists():
        return StoryIndex()
    meta = json.loads(meta_path.read_text("utf-8"))
    files = sorted(root.glob("????-??.json"))
    if since is not None or until is not None:
        pad = timedelta(days=meta["window_days"] + 1)
        lo = (since or datetime(1970, 1, 1, tzinfo=timezone.utc)) - pad
        hi = (until or datetime.now(timezone.utc)) + pad
        wanted = _months_between(lo, hi)
        files = [f for f in files if f.stem in wanted]
    docs = []
    for f in files:
        docs.extend(json.loads(f.read_text("utf-8")))
    return StoryIndex.from_json({**meta, "docs": docs})


def save_stories(index: StoryIndex, root: Path) -> None:
    """Rewrite the months the index holds (loaded months are complete, plus new articles);
    months never loaded stay untouched on disk."""
    root.mkdir(parents=True, exist_ok=True)
    data = index.to_json()
    by_month: dict[str, list] = defaultdict(list)
    for doc in data.pop("docs"):
        by_month[_month(doc[3])].append(doc)
    for month, docs in by_month.items():
        _write_json(root / f"{month}.json", docs)
    _write_json(root / "meta.json", data)


@dataclass
class DedupState:
    root: Path
    neardup: NearDupIndex
    stories: StoryIndex
    boilerplate: BoilerplateLearner

    @classmethod
    def load(cls, root: Path, *, since: datetime | None = None, until: datetime | None = None) -> "DedupState":
        root = Path(root)
        nd = root / "neardup"
        neardup = NearDupIndex.load(nd) if (nd / "meta.json").exists() else NearDupIndex()
        stories = load_stories(root / "stories", since, until)
        bp = root / "boilerplate.json"
        boiler = BoilerplateLearner.from_json(json.loads(bp.read_text("utf-8"))) if bp.exists() else BoilerplateLearner()
        return cls(root, neardup, stories, boiler)

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.neardup.save(self.root / "neardup")
        save_stories(self.stories, self.root / "stories")
        _write_json(self.root / "boilerplate.json", self.boilerplate.to_json())
