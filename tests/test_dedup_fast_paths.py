"""The fast paths of dedup (issue 12) give the results of the straightforward code they replaced.

* ``normalize_ticker``: checked against the per-character definition (the pre-issue-12 code,
  kept here as the specification) on generated text and on every Unicode character.
* ``StoryIndex``: the story of every article of a replay corpus, fed in a shuffled order, hashed
  and compared with the hash the pre-issue-12 implementation produced on the same corpus
  (commit d8595e7, ``dedup/stories.py``); a change of any assignment changes the hash.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import stories
from dedup.stories import StoryDoc, StoryIndex, features
from dedup.ticker import normalize_ticker
from replay.corpus import SITES, Corpus

_APOSTROPHES = re.compile(r"(?<=\w)['\u2019\u02bc](?=\w)")
_WS = re.compile(r"\s+")
_LABEL = re.compile(r"^(?:breaking(?: news)?|urgent|just in|developing)\s+(?=\S)")


def reference_normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold()
    text = _APOSTROPHES.sub("", text)
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZ" or ch.isspace() else ch for ch in text)
    return _LABEL.sub("", _WS.sub(" ", text).strip())


_TICKERISH = st.text(alphabet=st.sampled_from(list("ab Z9'’ʼ-–—:.,!?\"“”\t\n\u00a0\u2028ßİéé…•🙂")), max_size=40)


@settings(max_examples=400, deadline=None)
@given(prefix=st.sampled_from(["", "BREAKING ", "Breaking News: ", "URGENT  ", "just in\t", "developing"]),
       text=st.one_of(_TICKERISH, st.text(max_size=40)))
def test_normalize_ticker_matches_the_per_character_definition(prefix, text):
    assert normalize_ticker(prefix + text) == reference_normalize(prefix + text)


def test_normalize_ticker_treats_every_character_as_the_definition_does():
    # Every code point between word characters, where both the apostrophe rule and the
    # punctuation rule can apply (surrogates cannot be NFC-normalised by either version).
    chars = [chr(cp) for cp in range(0, 0x110000, 7) if not 0xD800 <= cp <= 0xDFFF]
    chars += list("'’ʼ-–—“”«»\u00a0\u2028\u3000")
    for ch in chars:
        for text in (f"a{ch}b", f"{ch}x", f"9{ch}'s"):
            assert normalize_ticker(text) == reference_normalize(text), (hex(ord(ch)), text)


def test_features_are_the_same_with_a_cold_and_a_warm_word_cache():
    corpus = Corpus(seed=3, per_site=40)
    arts = [a for site in SITES for a in corpus.articles(site)]
    stories._WORD_INFO.clear()
    cold = [features(a.title, "\n\n".join(a.paragraphs)) for a in arts]
    warm = [features(a.title, "\n\n".join(a.paragraphs)) for a in arts]
    assert cold == warm
    assert any(len(phrases) > 3 for phrases, _ in cold) and all(isinstance(t, Counter) for _, t in cold)


# sha256 of [[url, story], ...] from the pre-issue-12 StoryIndex (d8595e7) on this corpus and order.
STORIES_BEFORE = "98b3819197c91c2f673bea100627e70050161ab97cac1f9746c63a76cb3fc6fd"


def _assign_all(idx: StoryIndex) -> list[tuple[str, str]]:
    corpus = Corpus(seed=5, per_site=300)
    docs = [(a.url, site, a.title, "\n\n".join(a.paragraphs), a.published)
            for site in SITES for a in corpus.articles(site)]
    return [(d[0], idx.assign(StoryDoc(*d))) for d in random.Random(5).sample(docs, len(docs))]


def test_story_assignments_are_those_of_the_implementation_before_the_fast_paths():
    out = _assign_all(StoryIndex())
    assert sum(1 for n in Counter(s for _, s in out).values() if n > 1) == 30   # stories do form
    assert hashlib.sha256(json.dumps(out).encode()).hexdigest() == STORIES_BEFORE


def test_a_reloaded_story_index_scores_like_the_one_it_was_saved_from():
    idx = StoryIndex()
    out = _assign_all(idx)
    again = StoryIndex.from_json(json.loads(json.dumps(idx.to_json())))
    corpus = Corpus(seed=5, per_site=300)
    matched = 0
    for site in SITES:
        for a in list(corpus.articles(site))[::5]:
            doc = StoryDoc(a.url + "?copy", site, a.title, "\n\n".join(a.paragraphs), a.published)
            hits, before = again.candidates(doc), idx.candidates(doc)
            # Same matches; scores equal up to summation order (frozensets rebuilt from JSON).
            assert [h[:2] for h in hits] == [b[:2] for b in before]
            assert [h[2] for h in hits] == pytest.approx([b[2] for b in before], rel=1e-12)
            matched += bool(hits)
    assert len(again) == len(out) and matched > 10    # a copy of an article finds at least itself
