"""Deterministic, lazily generated article corpus behind the replay web.

Article ``i`` of a site is a pure function of ``(seed, site, i)``: nothing is
generated up front, so a 100,000-article corpus costs no more than a 150-article
one until pages are requested. Publication times are assigned by index and are
non-decreasing in ``i`` (index order == chronological order), which makes month
buckets for sitemaps a binary search and "newest first" lists a reverse range.
The two seed articles (``data/seeds.json``) replace the generated article at the
index whose time slot contains their real publication time.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Iterator
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from . import events as ev
from . import textgen as tg

SITES = ("almayadeen", "reuters")
HOSTS = {"almayadeen": "english.almayadeen.net", "reuters": "www.reuters.com"}
HOST_TO_SITE = {"english.almayadeen.net": "almayadeen", "www.reuters.com": "reuters", "reuters.com": "reuters"}
BEIRUT = ZoneInfo("Asia/Beirut")
RECENT_WINDOW = timedelta(days=2)   # the Google News sitemap window before `end`

# (url path, display name, weight). Al Mayadeen's posttype is the first path part.
SECTIONS = {
    "almayadeen": [("news/politics", "Politics", 8), ("news/economy", "Economy", 2), ("news/sports", "Sports", 1),
                   ("news/health", "Health", 1), ("news/technology", "Technology", 1),
                   ("news/environment", "Environment", 1), ("articles/analysis", "Analysis", 2),
                   ("articles/opinion", "Opinion", 2), ("articles/features", "Features", 1)],
    "reuters": [("world/europe", "Europe", 5), ("world/middle-east", "Middle East", 4),
                ("world/asia-pacific", "Asia Pacific", 3), ("world/africa", "Africa", 1),
                ("world/americas", "Americas", 2), ("business/energy", "Energy", 2),
                ("business/finance", "Finance", 1), ("business/aerospace-defense", "Aerospace & Defense", 1)],
}
# Page variants sit at fixed residues of the index (i % 10), so tests and benchmarks find
# them without scanning and they spread evenly over time; the seed index is never a variant.
#   video:   Al Mayadeen /videos/<slug> (tawsiyat type "videoobject"), Reuters TV-style page
#   update:  Al Mayadeen "UPDATE:" lead paragraph; Reuters "Updated N hours ago" + "[1/3]" photo noise
#   opinion: Reuters Breakingviews column (Al Mayadeen opinion/analysis come from its sections)
VARIANTS = {"almayadeen": {3: "video", 7: "update"},
            "reuters": {3: "video", 5: "opinion", 7: "update"}}
# Sections only variants use (weight 0: the hash never picks them; the app lists them as sections).
SECTIONS["almayadeen"].append(("videos", "Videos", 0))
SECTIONS["reuters"].append(("breakingviews", "Breakingviews", 0))
_VARIANT_SECTION = {("almayadeen", "video"): SECTIONS["almayadeen"][-1],
                    ("reuters", "opinion"): SECTIONS["reuters"][-1]}


@dataclass(frozen=True)
class Image:
    url: str
    caption: str | None = None


@dataclass(frozen=True)
class CorpusArticle:
    """Ground truth for one article: what a perfect extractor returns."""
    site: str
    index: int
    url: str
    title: str
    standfirst: str | None
    authors: tuple[str, ...]
    source: str | None
    published: datetime                       # timezone-aware (Beirut local for Al Mayadeen, UTC for Reuters)
    modified: datetime
    section: str
    section_path: str                         # e.g. "news/politics", "world/europe"
    tags: tuple[str, ...]
    body: tuple[tuple[str, str], ...]         # ("p" | "h", text), in reading order
    images: tuple[Image, ...] = ()
    dateline: str | None = None
    credits: str | None = None
    related: tuple[str, ...] = ()             # related article URLs (Al Mayadeen inline block)
    revision: int = 1
    language: str = "en"
    duplicate_of: str | None = None           # set on the second URL of a duplicated story
    syndicated_from: str | None = None        # set on a Reuters story republished by Al Mayadeen
    # Rendering hints (chrome placement), not part of the extracted article.
    related_titles: tuple[str, ...] = ()
    related_after: int | None = None          # body position after which the Related News block sits
    register_after: tuple[int, ...] = ()      # Reuters: body positions followed by a "Register now" box
    more_links: tuple[tuple[int, str], ...] = ()  # Reuters: (body position, url) of inline "More" links
    raw_text: tuple[str, ...] = field(default=(), compare=False)  # body text as the CMS stores it (NBSPs)
    dossier: dict | None = field(default=None, compare=False)
    read_time: str | None = None
    variant: str = ""                         # "" | "video" | "update" | "opinion" (see VARIANTS)
    video_duration: str | None = None         # "MM:SS" on video pages
    story: str | None = None                  # known cross-source story ("seed", "event-NNNNNN"), see events.py

    @property
    def paragraphs(self) -> list[str]:
        return [t for k, t in self.body if k == "p"]

    @property
    def word_count(self) -> int:
        return sum(len(t.split()) for _, t in self.body)

    def to_json(self) -> dict:
        return {"site": self.site, "url": self.url, "title": self.title, "standfirst": self.standfirst,
                "authors": list(self.authors), "source": self.source,
                "published": self.published.isoformat(), "modified": self.modified.isoformat(),
                "section": self.section, "tags": list(self.tags), "language": self.language,
                "body": [[k, t] for k, t in self.body], "paragraphs": self.paragraphs,
                "images": [{"url": im.url, "caption": im.caption} for im in self.images],
                "dateline": self.dateline, "credits": self.credits, "related": list(self.related),
                "revision": self.revision, "duplicate_of": self.duplicate_of,
                "syndicated_from": self.syndicated_from, "index": self.index, "variant": self.variant,
                "video_duration": self.video_duration}


def slugify(text: str, limit: int = 60) -> str:
    """Lowercase ASCII slug cut at a word boundary near ``limit`` (keeps ':' as Al Mayadeen does)."""
    text = text.replace("ı", "i").replace("ø", "o").replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9:]+", "-", text).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0]
    return slug


def _h64(*parts) -> int:
    return int.from_bytes(hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def unit(*parts) -> float:
    """Deterministic uniform [0, 1) from any key: knobs use it to pick articles/URLs."""
    return _h64(*parts) / 2.0 ** 64


@lru_cache(maxsize=1)
def load_seeds() -> dict:
    return json.loads(resources.files("replay").joinpath("data/seeds.json").read_text(encoding="utf-8"))


class _Times:
    """Sequence view of the publication timestamps of one site (for bisect)."""

    def __init__(self, corpus: "Corpus", site: str):
        self.corpus, self.site = corpus, site

    def __len__(self) -> int:
        return self.corpus.per_site

    def __getitem__(self, i: int) -> float:
        return self.corpus.timestamp(self.site, i)


class Corpus:
    def __init__(self, seed: int = 1, per_site: int = 150, start: date = date(2019, 1, 1),
                 end: date = date(2026, 11, 20)):
        if not 10 <= per_site <= 100_000:
            raise ValueError("per_site must be between 10 and 100,000")
        self.seed, self.per_site, self.start, self.end = seed, per_site, start, end
        self.start_dt = datetime.combine(start, time(0), timezone.utc)
        self.end_dt = datetime.combine(end, time(0), timezone.utc)  # the corpus "now"
        self.recent = max(2, min(10, per_site // 15))   # articles in the last 2 days before `end`
        self.regular = per_site - self.recent
        self._t0 = self.start_dt.timestamp()
        self._span = (self.end_dt - RECENT_WINDOW).timestamp() - self._t0
        self._seeds: dict[str, tuple[int, dict]] = {}
        for site, s in load_seeds().items():
            ts = datetime.fromisoformat(s["published"]).timestamp()
            slot = int((ts - self._t0) / self._span * self.regular)
            self._seeds[site] = (min(max(slot, 0), self.regular - 1), s)
        self._perm = {}
        for site in SITES:
            a = _h64(seed, site, "perm") % tg.TITLE_CAPACITY | 1
            while math.gcd(a, tg.TITLE_CAPACITY) != 1:
                a += 2
            self._perm[site] = (a, _h64(seed, site, "offset") % tg.TITLE_CAPACITY)
        a = _h64(seed, "events", "perm") % ev.EVENT_KEYS | 1
        while math.gcd(a, ev.EVENT_KEYS) != 1:
            a += 2
        self._event_perm = (a, _h64(seed, "events", "offset") % ev.EVENT_KEYS)
        self._slug_index: dict[str, dict[str, int]] = {}
        self._months: dict[str, dict[tuple[int, int], range]] = {}
        self.article = lru_cache(maxsize=4096)(self._article)
        self.revised = lru_cache(maxsize=1024)(self._revised)

    # ---- cheap, index-based fields (no body generation) ----
    def seed_index(self, site: str) -> int:
        return self._seeds[site][0]

    def timestamp(self, site: str, i: int) -> float:
        idx, s = self._seeds[site]
        if i == idx:
            return datetime.fromisoformat(s["published"]).timestamp()
        if i < self.regular:   # evenly spaced slots with jitter inside each slot: monotone in i
            jitter = unit(self.seed, site, i, "t") * 0.98
            story = self._story(site, i)
            if story:   # event coverage: leads within a day before the slot's end, follow-ups just after
                day = 86400 * self.regular / self._span      # one day as a share of a slot
                jitter = max(0.0, 0.98 - day * jitter / 0.98) if story[1] == "lead" else min(0.97, day * jitter / 0.98)
            return self._t0 + self._span * (i + jitter) / self.regular
        k = i - self.regular   # the recent tail: spread over (end - 2 days, end - 10 min)
        window = RECENT_WINDOW.total_seconds() - 600
        return self.end_dt.timestamp() - RECENT_WINDOW.total_seconds() + window * (k + unit(self.seed, site, i, "t")) / self.recent

    def published(self, site: str, i: int) -> datetime:
        ts = int(self.timestamp(site, i)) // 60 * 60     # CMSs publish on the minute
        tz = BEIRUT if site == "almayadeen" else timezone.utc
        return datetime.fromtimestamp(ts, tz)

    def _story(self, site: str, i: int) -> tuple[int, str] | None:
        """``(anchor, "lead" | "follow")`` when article ``i`` covers a known event (events.py).
        An event is dropped when one of its members would be a seed or in the recent tail."""
        hit = ev.anchor_of(site, i)
        if hit is None:
            return None
        for s, j in ev.members(hit[0]):
            if j >= self.regular or j == self._seeds[s][0]:
                return None
        return hit

    def story_of(self, site: str, i: int) -> str | None:
        """Ground truth: the known story of article ``i`` (None: it is its own story)."""
        if i == self._seeds[site][0]:
            return "seed"
        hit = self._story(site, i)
        return f"event-{hit[0]:06d}" if hit else None

    def story_members(self, story: str) -> list[tuple[str, int]]:
        if story == "seed":
            return [(s, self._seeds[s][0]) for s in SITES]
        return ev.members(int(story.split("-")[1]))

    def _head(self, site: str, i: int) -> tuple[dict, str, tuple[str, str, int]]:
        """Headline entities, title and section: all that URLs need, from one hash (no RNG).
        Index -> headline tuple is a bijection (affine permutation), so titles never collide."""
        h = _h64(self.seed, site, i, "head")
        story = self._story(site, i)
        if story:   # the event's names (shared by its members) and this site's wording
            key = ev.event_key(story[0], self._event_perm, _h64(self.seed, "event", story[0]))
            title = ev.title(site, story[1], key, h)
        else:
            a, b = self._perm[site]
            key = tg.title_key((a * i + b) % tg.TITLE_CAPACITY)
            key["adj"] = tg.ADJ[(h >> 8) % len(tg.ADJ)]
            title = tg.title(h % 251, key)
        secs, w = SECTIONS[site], (h >> 20) % sum(x for *_, x in SECTIONS[site])
        for sec in secs:
            if w < sec[2]:
                break
            w -= sec[2]
        return key, title, _VARIANT_SECTION.get((site, self.variant(site, i)), sec)

    def variant(self, site: str, i: int) -> str:
        """The page variant of article ``i`` ("" for a plain article); see VARIANTS."""
        if i == self._seeds[site][0]:
            return ""
        return VARIANTS[site].get(i % 10, "")

    def slug(self, site: str, i: int) -> str:
        idx, s = self._seeds[site]
        if i == idx:
            return urlsplit(s["url"]).path.rstrip("/").rsplit("/", 1)[1]
        title = self._head(site, i)[1]
        if site == "reuters":
            return f"{slugify(title, 80)}-{self.published(site, i).date().isoformat()}"
        return slugify(title, 80)

    def url(self, site: str, i: int, section_path: str | None = None) -> str:
        idx, s = self._seeds[site]
        if i == idx and section_path is None:
            return s["url"]
        if section_path is None:
            section_path = self._head(site, i)[2][0]
        tail = "/" if site == "reuters" else ""
        return f"https://{HOSTS[site]}/{section_path}/{self.slug(site, i)}{tail}"

    def section_path(self, site: str, i: int) -> str:
        idx, s = self._seeds[site]
        return s["category_path"] if i == idx else self._head(site, i)[2][0]

    def headline(self, site: str, i: int) -> tuple[str, str, datetime, str]:
        """``(url, title, published, section name)`` without generating the body (for listings)."""
        idx, s = self._seeds[site]
        if i == idx:
            return s["url"], s["title"], datetime.fromisoformat(s["published"]), s["section"]
        _, title, sec = self._head(site, i)
        return self.url(site, i), title, self.published(site, i), sec[1]

    def duplicate_url(self, site: str, i: int) -> str:
        """The second URL of a story published twice (used when the duplicate knob selects it)."""
        own = self.section_path(site, i)
        other = next(p for p, _, w in SECTIONS[site][::-1] if p != own and w)
        return self.url(site, i, other)

    # ---- lookup ----
    def _index(self, site: str) -> dict[str, int]:
        # Built once per site on first lookup: titles only (no bodies), about 10 us per article.
        if site not in self._slug_index:
            self._slug_index[site] = {self.slug(site, i): i for i in range(self.per_site)}
        return self._slug_index[site]

    def locate(self, url: str) -> tuple[str, int, str] | None:
        """``(site, index, "canonical" | "duplicate")`` for an article URL (query/fragment ignored)."""
        parts = urlsplit(url)
        site = HOST_TO_SITE.get((parts.hostname or "").lower())
        if site is None:
            return None
        # An article path is /<section...>/<slug>: a one-segment path (/sitemap.xml) is none.
        section_path, _, slug = parts.path.strip("/").rpartition("/")
        if not section_path:
            return None
        i = self._index(site).get(slug)
        if i is None:
            return None
        clean = f"https://{HOSTS[site]}{parts.path}"
        if clean.rstrip("/") == self.url(site, i).rstrip("/"):
            return site, i, "canonical"
        if clean.rstrip("/") == self.duplicate_url(site, i).rstrip("/"):
            return site, i, "duplicate"
        return None

    def find(self, url: str) -> CorpusArticle | None:
        hit = self.locate(url)
        return self.article(hit[0], hit[1]) if hit and hit[2] == "canonical" else None

    def articles(self, site: str) -> Iterator[CorpusArticle]:
        return (self.article(site, i) for i in range(self.per_site))

    # ---- month buckets (sitemaps) ----
    def months(self, site: str) -> dict[tuple[int, int], range]:
        """``{(year, month): range(first_index, last_index + 1)}``, computed by bisect and cached."""
        if site not in self._months:
            times = _Times(self, site)
            first, last = self.published(site, 0), self.published(site, self.per_site - 1)
            y, m, out = first.year, first.month, {}
            while (y, m) <= (last.year, last.month):
                tz = BEIRUT if site == "almayadeen" else timezone.utc
                lo = datetime(y, m, 1, tzinfo=tz).timestamp()
                y2, m2 = (y + 1, 1) if m == 12 else (y, m + 1)
                hi = datetime(y2, m2, 1, tzinfo=tz).timestamp()
                r = range(bisect.bisect_left(times, lo), bisect.bisect_left(times, hi))
                if len(r):
                    out[(y, m)] = r
                y, m = y2, m2
            self._months[site] = out
        return self._months[site]

    def recent_indices(self, site: str, since: datetime) -> range:
        return range(bisect.bisect_left(_Times(self, site), since.timestamp()), self.per_site)

    # ---- full articles ----
    def _article(self, site: str, i: int) -> CorpusArticle:
        idx, s = self._seeds[site]
        if i == idx:
            return self._from_seed(site, i, s)
        key, title, (spath, sname, _) = self._head(site, i)
        rng = random.Random(f"{self.seed}:{site}:{i}:body")
        c = tg.cast(rng, key)
        deck = tg.Deck(rng)
        pub = self.published(site, i)
        n = rng.randint(4, 14)
        story = self._story(site, i)
        if story:
            body: list[tuple[str, str]] = [("p", t) for t in ev.body(rng, site, story[1], c)]
        else:
            body = [("p", tg.paragraph(rng, c, deck)) for _ in range(n)]
        if rng.random() < 0.35:   # sub-headings, never first
            for _ in range(rng.randint(1, 2)):
                body.insert(rng.randint(2, len(body) - 1), ("h", rng.choice(tg.SUBHEADS)))
        tags = [c["person"], c["place"], c["t0"].capitalize(), c["person2"], c["place2"],
                c["org"].removeprefix("the ").strip(), rng.choice(tg.PEOPLE), rng.choice(tg.PLACES)]
        tags = list(dict.fromkeys(tags))[: rng.randint(2, 8)]
        images = ()
        if rng.random() < 0.7:
            images = (Image(f"https://{HOSTS[site]}/images/{_h64(self.seed, site, i) % 10**12:012d}.jpg",
                            tg.fill(rng.choice(tg.CAPTIONS), c, rng)),)
        # Earlier articles of the same site, for Related News / More links.
        rel = tuple(sorted({max(0, i - 1 - rng.randint(0, 40)) for _ in range(2)} - {i}))
        modified = pub
        if site == "almayadeen":
            pool = tg.AUTHORS_AM
            k = rng.choices([0, 1, 2, 3], weights=[1, 6, 2, 1])[0]
            authors = tuple(rng.sample(pool, k))
            source = rng.choice(["Agencies", "Agencies", "Al Mayadeen English", None])
            return self._vary(CorpusArticle(
                site=site, index=i, url=self.url(site, i), title=title,
                standfirst=tg.fill(rng.choice(tg.SENTENCES), c, rng), authors=authors, source=source,
                published=pub, modified=modified, section=sname, section_path=spath, tags=tuple(tags),
                body=tuple(body), images=images, related=tuple(self.url(site, j) for j in rel),
                related_titles=tuple(self._head(site, j)[1] if j != idx else s["title"] for j in rel),
                related_after=min(len(body) - 1, rng.randint(2, 5)) if rel else None,
                read_time=f"{max(1, sum(len(t.split()) for _, t in body) // 200)} Min Read",
                story=self.story_of(site, i)), c)
        dateline = c["place"].upper()
        lead = f"{dateline}, {pub.strftime('%B')} {pub.day} (Reuters) - "
        first = next(k for k, (kind, _) in enumerate(body) if kind == "p")
        standfirst = body[first][1]
        body[first] = ("p", lead + standfirst)
        authors = tuple(rng.sample(tg.AUTHORS_RT, rng.choices([0, 1, 2, 3], weights=[2, 5, 3, 1])[0]))
        helpers = rng.sample(tg.AUTHORS_RT, 2)
        credits = (f"Reporting by {authors[0] if authors else helpers[0]}; Additional reporting by {helpers[1]}; "
                   f"Editing by {rng.choice(tg.EDITORS)}")
        paras = [k for k, (kind, _) in enumerate(body) if kind == "p"]
        register = (paras[2],) + ((paras[-1],) if len(paras) > 6 else ()) if len(paras) > 3 else ()
        more = ((paras[min(4, len(paras) - 1)], self.url(site, rel[0])),) if rel and rng.random() < 0.3 else ()
        return self._vary(CorpusArticle(
            site=site, index=i, url=self.url(site, i), title=title, standfirst=standfirst, authors=authors,
            source=None, published=pub, modified=modified, section=sname, section_path=spath,
            tags=tuple(tags), body=tuple(body), images=images, dateline=dateline, credits=credits,
            related=tuple(u for _, u in more), register_after=register, more_links=more,
            read_time=f"{max(1, sum(len(t.split()) for _, t in body) // 230)} minute read",
            story=self.story_of(site, i)), c)

    def _vary(self, a: CorpusArticle, c: dict) -> CorpusArticle:
        """Apply the index's page variant. Uses its own RNG stream so that plain articles are
        unaffected by the variant machinery."""
        v = self.variant(a.site, a.index)
        if not v:
            return a
        rng = random.Random(f"{self.seed}:{a.site}:{a.index}:variant")
        a = replace(a, variant=v)
        thumb = Image(f"https://{HOSTS[a.site]}/images/{_h64(self.seed, a.site, a.index) % 10**12:012d}.jpg",
                      a.images[0].caption if a.images else tg.fill(rng.choice(tg.CAPTIONS), c, rng))
        if v == "video":
            # A short description under the player; the thumbnail has no visible caption.
            paras = [t for k, t in a.body if k == "p"][: rng.randint(1, 3)]
            secs = rng.randint(40, 600)
            a = replace(a, body=tuple(("p", t) for t in paras), images=(Image(thumb.url),),
                        video_duration=f"{secs // 60:02d}:{secs % 60:02d}", related=(), related_titles=(),
                        related_after=None, read_time=None)
            if a.site == "reuters":   # Reuters TV: no byline, dateline or sign-off
                paras[0] = paras[0].split(" (Reuters) - ", 1)[-1]
                a = replace(a, body=tuple(("p", t) for t in paras), standfirst=paras[0], authors=(),
                            dateline=None, credits=None, register_after=(), more_links=())
            return a
        if v == "update":
            modified = a.published + timedelta(hours=rng.randint(1, 20), minutes=rng.randint(0, 59))
            a = replace(a, modified=modified, images=(thumb,))
            if a.site == "almayadeen":
                note = "UPDATE: " + tg.fill(rng.choice(tg.SENTENCES), c, rng)
                shift = lambda k: None if k is None else k + 1   # noqa: E731 - chrome follows its paragraph
                a = replace(a, body=(("p", note),) + a.body, related_after=shift(a.related_after))
            return a
        # opinion: a Breakingviews column by one columnist
        first = next(k for k, (kind, _) in enumerate(a.body) if kind == "p")
        body = list(a.body)
        body[first] = ("p", body[first][1].replace(" (Reuters) - ", " (Reuters Breakingviews) - ", 1))
        author = rng.choice(tg.AUTHORS_RT)
        return replace(a, body=tuple(body), authors=(author,), credits=f"Editing by {rng.choice(tg.EDITORS)}")

    def _from_seed(self, site: str, i: int, s: dict) -> CorpusArticle:
        body, raw, register, more, related_after = [], [], [], [], None
        for item in s["body"]:
            if item["kind"] == "related":
                related_after = len(body) - 1
            elif item["kind"] == "register":
                register.append(len(body) - 1)
            else:
                raw.append(item["text"])
                body.append((item["kind"], item["text"].strip()))   # truth drops trailing NBSP/space
                if item.get("more_link"):
                    more.append((len(body) - 1, item["more_link"]))
        rel = s.get("related") or []
        return CorpusArticle(
            site=site, index=i, url=s["url"], title=s["title"], standfirst=s["standfirst"],
            authors=tuple(s["authors"]), source=s["source"], published=datetime.fromisoformat(s["published"]),
            modified=datetime.fromisoformat(s["modified"]), section=s["section"], section_path=s["category_path"],
            tags=tuple(s["tags"]), body=tuple(body),
            images=tuple(Image(im["url"], im["caption"]) for im in s["images"]),
            dateline=s["dateline"], credits=s["credits"],
            related=tuple(r["url"] for r in rel) + tuple(u for _, u in more),
            related_titles=tuple(r["title"] for r in rel), related_after=related_after,
            register_after=tuple(register), more_links=tuple(more), raw_text=tuple(raw),
            dossier=s.get("dossier"), read_time=s.get("read_time"), story="seed")

    def _revised(self, site: str, i: int) -> CorpusArticle:
        """Revision 2 of an article: new title wording, an edited and an added paragraph, later modified time."""
        a = self.article(site, i)
        rng = random.Random(f"{self.seed}:{site}:{i}:rev2")
        c = tg.cast(rng)
        body = list(a.body)
        last_p = max(k for k, (kind, _) in enumerate(body) if kind == "p")
        body[last_p] = ("p", body[last_p][1] + " " + tg.fill(rng.choice(tg.SENTENCES), c, rng))
        body.append(("p", tg.paragraph(rng, c, tg.Deck(rng))))
        suffix = rng.choice([" as pressure mounts", ", sources say", " amid new tensions", " - update"])
        modified = a.published + timedelta(hours=rng.randint(1, 30), minutes=rng.randint(0, 59))
        return replace(a, title=a.title + suffix, body=tuple(body), modified=modified, revision=2, raw_text=())

    def syndicated(self, i: int) -> CorpusArticle:
        """Al Mayadeen article ``i`` rewritten as a lightly edited copy of Reuters article ``i``."""
        own, src = self.article("almayadeen", i), self.article("reuters", i)
        body = list(src.body)
        first = next(k for k, (kind, _) in enumerate(body) if kind == "p")
        body[first] = ("p", body[first][1].split(" (Reuters) - ", 1)[-1])   # agency copy drops the dateline
        body = [(k, t.replace("said", "stated", 1)) for k, t in body if k == "p"]   # light edits
        return replace(own, title=src.title, standfirst=src.standfirst, body=tuple(body), authors=(),
                       source="Reuters", tags=src.tags, related=(), related_titles=(), related_after=None,
                       syndicated_from=src.url, raw_text=())
