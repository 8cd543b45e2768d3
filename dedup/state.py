"""Dedup state that outlives a run, kept beside the lake under ``<archive>/index/``.

    index/neardup/       MinHash signatures (append-only segments, dedup.neardup)
    index/stories.json   the story index (dedup.stories)
    index/boilerplate.json  learned per-site boilerplate paragraphs (dedup.boilerplate)

Saved after the run's lake commit. A crash in between leaves the indexes one run
behind the lake: the next run re-derives nothing wrongly (a URL never matches
itself), it only misses matches against that run's articles.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .boilerplate import BoilerplateLearner
from .neardup import NearDupIndex
from .stories import StoryIndex


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    os.replace(tmp, path)


@dataclass
class DedupState:
    root: Path
    neardup: NearDupIndex
    stories: StoryIndex
    boilerplate: BoilerplateLearner

    @classmethod
    def load(cls, root: Path) -> "DedupState":
        root = Path(root)
        nd = root / "neardup"
        neardup = NearDupIndex.load(nd) if (nd / "meta.json").exists() else NearDupIndex()
        st = root / "stories.json"
        stories = StoryIndex.from_json(json.loads(st.read_text("utf-8"))) if st.exists() else StoryIndex()
        bp = root / "boilerplate.json"
        boiler = BoilerplateLearner.from_json(json.loads(bp.read_text("utf-8"))) if bp.exists() else BoilerplateLearner()
        return cls(root, neardup, stories, boiler)

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.neardup.save(self.root / "neardup")
        _write_json(self.root / "stories.json", self.stories.to_json())
        _write_json(self.root / "boilerplate.json", self.boilerplate.to_json())
