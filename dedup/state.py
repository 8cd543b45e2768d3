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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from newsarchive.fsutil import file_lock

from .boilerplate import BoilerplateLearner
from .neardup import NearDupIndex
from .stories import StoryIndex


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    # orjson: the story index of a large archive is tens of MB of JSON, saved at the end of every
    # run (json.dumps took ~0.2 s of a 6,000-article run's 0.5-0.9 s save). json reads it back.
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))
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


def save_stories(index: StoryIndex, root: Path, base: dict | None = None) -> None:
    """Merge this run's story index into the files: per month, the articles on disk plus ours
    (by article id); term statistics as disk + what this run added since ``base`` (the
    statistics it loaded). Under a lock, so concurrent runs do not lose each other's work;
    months never loaded or touched stay as they are."""
    root.mkdir(parents=True, exist_ok=True)
    data = index.to_json()
    by_month: dict[str, list] = defaultdict(list)
    for doc in data.pop("docs"):
        by_month[_month(doc[3])].append(doc)
    base = base or {"n": 0, "df": {}}
    with file_lock(root / ".lock"):
        meta_path = root / "meta.json"
        if meta_path.exists():
            disk = json.loads(meta_path.read_text("utf-8"))
            df = Counter(disk["df"])
            df.update(Counter(data["df"]) - Counter(base["df"]))
            data["df"] = dict(df)
            data["n"] = disk["n"] + data["n"] - base["n"]
        for month, docs in by_month.items():
            path = root / f"{month}.json"
            merged = {d[0]: d for d in json.loads(path.read_text("utf-8"))} if path.exists() else {}
            merged.update((d[0], d) for d in docs)
            _write_json(path, list(merged.values()))
        _write_json(meta_path, data)


def _stories_base(root: Path) -> dict:
    meta = root / "meta.json"
    if not meta.exists():
        return {"n": 0, "df": {}}
    data = json.loads(meta.read_text("utf-8"))
    return {"n": data["n"], "df": data["df"]}


@dataclass
class DedupState:
    root: Path
    neardup: NearDupIndex
    stories: StoryIndex
    boilerplate: BoilerplateLearner
    stories_base: dict = field(default_factory=lambda: {"n": 0, "df": {}})

    @classmethod
    def load(cls, root: Path, *, since: datetime | None = None, until: datetime | None = None) -> "DedupState":
        root = Path(root)
        nd = root / "neardup"
        neardup = NearDupIndex.load(nd) if (nd / "meta.json").exists() else NearDupIndex()
        base = _stories_base(root / "stories")
        stories = load_stories(root / "stories", since, until)
        bp = root / "boilerplate.json"
        boiler = BoilerplateLearner.from_json(json.loads(bp.read_text("utf-8"))) if bp.exists() else BoilerplateLearner()
        return cls(root, neardup, stories, boiler, base)

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.neardup.save(self.root / "neardup")
        save_stories(self.stories, self.root / "stories", self.stories_base)
        self.stories_base = _stories_base(self.root / "stories")
        # Boilerplate is a learned cache (rebuilt from the next pages anyway): last writer wins.
        _write_json(self.root / "boilerplate.json", self.boilerplate.to_json())
