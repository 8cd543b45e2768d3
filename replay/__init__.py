"""The replay web: a deterministic local stand-in for the seed news sites (see docs/MARKUP.md)."""
from __future__ import annotations

from .app import build_app
from .corpus import Corpus, CorpusArticle
from .knobs import Knobs
from .server import LoopbackServer

__all__ = ["Corpus", "CorpusArticle", "Knobs", "LoopbackServer", "build_app", "start_replay"]


def start_replay(seed: int = 1, per_site: int = 150, knobs: Knobs | None = None) -> LoopbackServer:
    """Build the corpus and app and start it on 127.0.0.1 (random port); call ``.stop()`` when done."""
    return LoopbackServer(build_app(Corpus(seed=seed, per_site=per_site), knobs)).start()
