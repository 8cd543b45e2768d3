"""Cross-source stories: articles from any site about the same event get one story_id.

Method (measured in docs/DEDUP.md, bench/bench_stories.py):

* Text: title + the first ``lead_paragraphs`` paragraphs; the lead is where news names
  its who/where/what, and later paragraphs drift into background shared by many stories.
* Names: capitalised words that are not English function words, weekdays or months,
  folded to ASCII, casefolded and cut to 6 characters so "Russia"/"Russian" and
  "Ukraine"/"Ukrainian" meet. Terms: every other word of 3+ letters, same folding.
* Weights: IDF over every document the index has seen (persisted with it), so "Ukraine"
  on a Ukraine-heavy site weighs little and "Antalya" or "Kuleba" weighs a lot.
* A new article joins the story of its best-scoring earlier article published within
  ``window_days`` (either direction: crawls are not chronological) when it shares at least
  ``min_shared`` names, their IDF mass covers ``min_name_overlap`` of the smaller article's
  name mass, and ``0.5 * name_overlap + 0.5 * tfidf_cosine >= min_score``. One shared topic
  word ("Ukraine") is never enough, by construction of ``min_shared``.
* Story ids are ``"story-" + blake2b(first article's doc_id)``: stable across runs.
"""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_STEM = 6
STOPWORDS = frozenset("""
a about above after again against all also although am among an and another any are around as at be
because been before being below between both but by can could did do does doing down during each either
even ever every few for from further had has have having he her here hers herself him himself his how
however i if in into is it its itself just last least less many may me might more most much must my
near neither new next no nor not now of off on once one only or other our ours out over own per
perhaps quite rather said says same several she should since so some still such than that the their
theirs them then there these they this those though through to too toward under until up upon us very
via was we were what when where whether which while who whom whose why will with within without would
yet you your mr mrs ms dr according officials sources source meanwhile however earlier later today
yesterday tomorrow week weeks month months year years time monday tuesday wednesday thursday friday
saturday sunday january february march april june july august september october november december
reuters reporting editing additional update updated read watch video photo file exclusive analysis
""".split())


def _fold(word: str) -> str:
    word = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().casefold()
    word = word.replace("’", "'").split("'")[0].replace("-", "")   # "Moscow's" -> "moscow", "al-Sisi" -> "alsisi"
    return word[:_STEM]


# raw word -> (skip: a stopword or shorter than 2, folded key, capitalised, a term: 3+ letters).
# Words repeat across articles; working each out once saves most of features()'s time.
_WORD_INFO: dict[str, tuple[bool, str, bool, bool]] = {}
_WORD_INFO_MAX = 200_000


def _word_info(raw: str) -> tuple[bool, str, bool, bool]:
    low = raw.casefold().replace("’", "'").split("'")[0]
    if low in STOPWORDS or len(low) < 2:
        info = (True, "", False, False)
    else:
        info = (False, _fold(raw), any(part[:1].isupper() for part in raw.split("-")), len(low) >= 3)
    if len(_WORD_INFO) >= _WORD_INFO_MAX:
        _WORD_INFO.clear()
    _WORD_INFO[raw] = info
    return info


def title_names(title: str) -> frozenset[str]:
    return _names(features(title, "", 0)[0])


def features(title: str, body: str, lead_paragraphs: int = 3) -> tuple[tuple[frozenset[str], ...], Counter]:
    """(name phrases, term counts) of the title + lead. A name phrase is a run of capitalised
    words ("Andrés Manuel López Obrador"): sharing one long name is one piece of evidence,
    not four."""
    paras = [p for p in body.split("\n\n") if p.strip()][:lead_paragraphs]
    text = "\n".join([title or ""] + paras)
    phrases: list[set[str]] = []
    terms: Counter = Counter()
    last_end = -2
    info_of = _WORD_INFO.get
    for m in _WORD.finditer(text):
        raw = m.group()
        skip, key, capitalised, term = info_of(raw) or _word_info(raw)
        if skip:
            last_end = -2
            continue
        if not key:
            continue
        if capitalised:     # "al-Sisi" is a name
            if m.start() == last_end + 1 and text[last_end] == " " and phrases:
                phrases[-1].add(key)          # continues the previous capitalised word
            else:
                phrases.append({key})
            last_end = m.end()
        else:
            last_end = -2
        if term:
            terms[key] += 1
    unique = {frozenset(p) for p in phrases}
    return tuple(sorted(unique, key=sorted)), terms


def _names(phrases) -> frozenset[str]:
    return frozenset().union(*phrases) if phrases else frozenset()


@dataclass(frozen=True)
class StoryDoc:
    doc_id: str
    site: str
    title: str
    body: str
    published_at: datetime          # timezone-aware


@dataclass
class _Entry:
    doc_id: str
    site: str
    story: str
    ts: float
    phrases: tuple
    terms: Counter
    title_names: frozenset = frozenset()
    names: frozenset = field(init=False)    # every word of the phrases, worked out once

    def __post_init__(self) -> None:
        self.names = _names(self.phrases)


class StoryIndex:
    def __init__(self, window_days: float = 3.0, *, min_shared: int = 3, min_name_overlap: float = 0.3,
                 min_score: float = 0.5, lead_paragraphs: int = 3):
        self.window_days, self.min_shared = window_days, min_shared
        self.min_name_overlap, self.min_score, self.lead_paragraphs = min_name_overlap, min_score, lead_paragraphs
        self._days: dict[int, list[_Entry]] = defaultdict(list)   # day number -> entries published that day
        self._by_id: dict[str, _Entry] = {}
        self._df: Counter = Counter()                              # names and terms share one DF table
        self._n = 0

    def _idf(self, token: str) -> float:
        return math.log((self._n + 1) / (self._df[token] + 1)) + 1.0

    def _score(self, phrases: tuple, names: frozenset, tnames: frozenset, vec: dict[str, float], norm: float,
               other: _Entry) -> float:
        # Headlines name the event: two reports of one event share at least one headline name
        # ("Russia, Ukraine ... Turkey" / "Russian and Ukrainian ... Turkey"); chance overlaps
        # of background names in the lead do not pass this gate.
        if tnames.isdisjoint(other.title_names):
            return 0.0
        onames = other.names
        shared = names & onames
        if len(shared) < self.min_shared:
            return 0.0
        # Distinct pieces of evidence: name phrases touched by the shared words, on both sides.
        if min(sum(1 for p in phrases if p & shared), sum(1 for p in other.phrases if p & shared)) < self.min_shared:
            return 0.0
        idf = self._idf
        mass = min(sum(map(idf, names)), sum(map(idf, onames))) or 1.0
        overlap = sum(map(idf, shared)) / mass
        if overlap < self.min_name_overlap:
            return 0.0
        ovec = {t: c * idf(t) for t, c in other.terms.items()}
        onorm = math.sqrt(sum(v * v for v in ovec.values())) or 1.0
        cosine = sum(v * ovec.get(t, 0.0) for t, v in vec.items()) / (norm * onorm)
        return 0.5 * overlap + 0.5 * cosine

    def _features(self, doc: StoryDoc) -> tuple[tuple, Counter, frozenset]:
        phrases, terms = features(doc.title, doc.body, self.lead_paragraphs)
        return phrases, terms, title_names(doc.title)

    def candidates(self, doc: StoryDoc, feats: tuple[tuple, Counter, frozenset] | None = None
                   ) -> list[tuple[str, str, float]]:
        """``(doc_id, story_id, score)`` of earlier articles that would pull ``doc`` into their story."""
        phrases, terms, tnames = feats or self._features(doc)
        names = _names(phrases)
        ts = doc.published_at.timestamp()
        # self._idf inlined (the same expression, so the same floats): one call per term was
        # a third of this method's time.
        n1, df, log = self._n + 1, self._df, math.log
        vec = {t: c * (log(n1 / (df.get(t, 0) + 1)) + 1.0) for t, c in terms.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        day, span = int(ts // 86400), math.ceil(self.window_days)
        out = []
        window_s = self.window_days * 86400
        # _score's first gate, inlined: most articles of the window share no headline name, and
        # a 0.0 score only counts when min_score <= 0.
        gate = self.min_score > 0
        for d in range(day - span, day + span + 1):
            for e in self._days.get(d, ()):
                if (gate and tnames.isdisjoint(e.title_names)) or e.doc_id == doc.doc_id \
                        or abs(e.ts - ts) > window_s:
                    continue
                s = self._score(phrases, names, tnames, vec, norm, e)
                if s >= self.min_score:
                    out.append((e.doc_id, e.story, s))
        return sorted(out, key=lambda t: -t[2])

    def assign(self, doc: StoryDoc, feats: tuple[tuple, Counter, frozenset] | None = None) -> str:
        """The story of ``doc``: the best match's story within the window, else a new story.
        Assigning the same ``doc_id`` again returns its story (a re-crawl keeps its story).
        ``feats``: ``_features(doc)`` when already worked out (in a parse worker)."""
        known = self._by_id.get(doc.doc_id)
        if known is not None:
            return known.story
        feats = feats or self._features(doc)     # once: candidates() and the new entry share them
        hits = self.candidates(doc, feats)
        story = hits[0][1] if hits else "story-" + hashlib.blake2b(doc.doc_id.encode(), digest_size=8).hexdigest()
        phrases, terms, tnames = feats
        self._add(_Entry(doc.doc_id, doc.site, story, doc.published_at.timestamp(), phrases, terms, tnames))
        return story

    def _add(self, e: _Entry) -> None:
        self._days[int(e.ts // 86400)].append(e)
        self._by_id[e.doc_id] = e
        self._df.update(set(e.terms) | e.names)
        self._n += 1

    def story_of(self, doc_id: str) -> str | None:
        e = self._by_id.get(doc_id)
        return e.story if e else None

    def __len__(self) -> int:
        return self._n

    def prune(self, before: datetime) -> int:
        """Forget articles published before ``before`` (their DF counts stay); returns how many."""
        cut, gone = before.timestamp(), 0
        for d in [d for d in self._days if (d + 1) * 86400 <= cut]:
            for e in self._days.pop(d):
                del self._by_id[e.doc_id]
                gone += 1
        return gone

    def to_json(self) -> dict:
        return {"format": 1, "window_days": self.window_days, "min_shared": self.min_shared,
                "min_name_overlap": self.min_name_overlap, "min_score": self.min_score,
                "lead_paragraphs": self.lead_paragraphs, "n": self._n, "df": dict(self._df),
                "docs": [[e.doc_id, e.site, e.story, e.ts, [sorted(p) for p in e.phrases], dict(e.terms),
                          sorted(e.title_names)]
                         for day in sorted(self._days) for e in self._days[day]]}

    @classmethod
    def from_json(cls, data: dict) -> "StoryIndex":
        idx = cls(data["window_days"], min_shared=data["min_shared"], min_name_overlap=data["min_name_overlap"],
                  min_score=data["min_score"], lead_paragraphs=data["lead_paragraphs"])
        for doc_id, site, story, ts, phrases, terms, tnames in data["docs"]:
            e = _Entry(doc_id, site, story, ts, tuple(frozenset(p) for p in phrases), Counter(terms), frozenset(tnames))
            idx._days[int(ts // 86400)].append(e)
            idx._by_id[doc_id] = e
        idx._df, idx._n = Counter(data["df"]), data["n"]
        return idx
