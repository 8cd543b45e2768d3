"""URL canonicalization: idempotent, collapses variants, never merges two corpus articles."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup.urls import DEFAULT_RULES, canonicalize, rules_for
from replay.corpus import SITES, Corpus

CORPUS = Corpus(seed=1, per_site=300)
ARTICLES = [(site, i) for site in SITES for i in range(CORPUS.per_site)]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TRACKERS = st.lists(st.sampled_from([
    "utm_source=twitter", "utm_medium=social", "utm_campaign=replay", "fbclid=IwAR0x", "gclid=abc",
    "mc_cid=1f2e", "mc_eid=9", "taid=6234", "outputType=amp", "_ga=2.1.2", "igshid=zz"]), max_size=4)


def canon(site: str, url: str, hint: str | None = None) -> str:
    return canonicalize(url, site_rules=rules_for(site), canonical_hint=hint)


@st.composite
def variant_of(draw, url: str):
    """A link to the same article as a crawler meets it: tracking, AMP, http, host and slash noise."""
    p = urlsplit(url)
    host, path = p.hostname, p.path
    if draw(st.booleans()):
        path = "/amp" + path
    if draw(st.booleans()):
        path = path.rstrip("/") if path.endswith("/") else path + "/"
    if host == "www.reuters.com":
        host = draw(st.sampled_from(["www.reuters.com", "reuters.com", "m.reuters.com", "amp.reuters.com"]))
    else:
        host = draw(st.sampled_from([host, host.upper(), "m." + host]))
    scheme = draw(st.sampled_from(["https", "http"]))
    query = "&".join(draw(TRACKERS))
    frag = draw(st.sampled_from(["", "#comments", "#main-content"]))
    return f"{scheme}://{host}{path}{'?' + query if query else ''}{frag}"


def test_site_rules_examples():
    rt, am = rules_for("reuters"), rules_for("almayadeen")
    assert canonicalize("http://reuters.com/world/europe/x-2022-03-07?utm_source=a&taid=5#f", site_rules=rt) \
        == "https://www.reuters.com/world/europe/x-2022-03-07/"
    assert canonicalize("https://www.reuters.com/amp/world/x/?outputType=amp", site_rules=rt) \
        == "https://www.reuters.com/world/x/"
    assert canonicalize("https://english.almayadeen.net/news/politics/a-b/?fbclid=1&utm_medium=x", site_rules=am) \
        == "https://english.almayadeen.net/news/politics/a-b"
    # Listing pagination is content, trackers are not; order of the rest is normalised.
    assert canonicalize("https://m.example.com/news/?utm_source=x&page=2&b=1", site_rules=rules_for("other")) \
        == "https://example.com/news/?b=1&page=2"
    assert rules_for("unknown").trailing_slash is None and DEFAULT_RULES.force_https
    assert canonicalize("mailto:desk@example.com") == "mailto:desk@example.com"


def test_canonical_hint_same_site_only():
    rt = rules_for("reuters")
    url = "https://www.reuters.com/amp/world/europe/x/?utm_source=a"
    assert canonicalize(url, site_rules=rt, canonical_hint="https://reuters.com/world/europe/y") \
        == "https://www.reuters.com/world/europe/y/"
    # A syndication partner's canonical (another site) or garbage never wins.
    assert canonicalize(url, site_rules=rt, canonical_hint="https://english.almayadeen.net/news/x") \
        == "https://www.reuters.com/world/europe/x/"
    assert canonicalize(url, site_rules=rt, canonical_hint="/relative/path") == "https://www.reuters.com/world/europe/x/"


def test_corpus_urls_are_fixed_points_and_distinct():
    urls = [CORPUS.url(s, i) for s, i in ARTICLES]
    dups = [CORPUS.duplicate_url(s, i) for s, i in ARTICLES]
    for s, u in zip([s for s, _ in ARTICLES] * 2, urls + dups):
        assert canon(s, u) == u
    assert len({canon(s, u) for s, u in zip([s for s, _ in ARTICLES] * 2, urls + dups)}) == 2 * len(ARTICLES)


@SETTINGS
@given(st.sampled_from(ARTICLES), st.data())
def test_variants_collapse_to_the_article_url(article, data):
    site, i = article
    url = CORPUS.url(site, i)
    v = data.draw(variant_of(url))
    assert canon(site, v) == url
    # The AMP and tracking pages declare rel=canonical to the clean URL: same answer.
    assert canon(site, v, hint=url) == url
    dup = data.draw(variant_of(CORPUS.duplicate_url(site, i)))
    assert canon(site, dup) == CORPUS.duplicate_url(site, i) != url


@SETTINGS
@given(st.sampled_from(ARTICLES), st.sampled_from(ARTICLES), st.data())
def test_distinct_articles_stay_distinct(a, b, data):
    if a == b:
        return
    va, vb = data.draw(variant_of(CORPUS.url(*a))), data.draw(variant_of(CORPUS.url(*b)))
    assert canon(a[0], va) != canon(b[0], vb)


URL_PARTS = st.builds(
    lambda scheme, host, segs, slash, query, frag: (
        f"{scheme}://{host}/{'/'.join(segs)}{'/' if slash else ''}{'?' + '&'.join(query) if query else ''}"
        f"{'#' + frag if frag else ''}"),
    st.sampled_from(["http", "https", "HTTP"]),
    st.sampled_from(["example.com", "WWW.Example.com", "m.news.example.org", "amp.example.com", "x.io:8080",
                     "www.reuters.com", "reuters.com", "english.almayadeen.net"]),
    st.lists(st.text(alphabet="abcAMP-_.:~%20é/", min_size=0, max_size=8), max_size=4),
    st.booleans(),
    st.lists(st.builds(lambda k, v: f"{k}={v}",
                       st.sampled_from(["utm_source", "page", "id", "amp", "outputType", "q", "a%5Fb", "UTM_X"]),
                       st.text(alphabet="ab1 %+=&", max_size=5)), max_size=4),
    st.text(alphabet="abc", max_size=3),
)


@settings(max_examples=500, deadline=None)
@given(URL_PARTS, st.sampled_from([None, "reuters", "almayadeen", "other"]))
def test_idempotent(url, site):
    rules = rules_for(site) if site else None
    once = canonicalize(url, site_rules=rules)
    assert canonicalize(once, site_rules=rules) == once


@pytest.mark.parametrize("site", SITES)
def test_seed_urls(site):
    u = CORPUS.url(site, CORPUS.seed_index(site))
    assert canon(site, u + "?utm_source=feed#x") == u


def test_reuters_legacy_article_urls_keep_their_shape():
    from dedup.urls import canonicalize, rules_for
    r = rules_for("reuters")
    legacy = "https://www.reuters.com/article/us-awards-sag-idUSKBN1ZI0EH"
    assert canonicalize(legacy, site_rules=r) == legacy
    assert canonicalize(legacy + "?utm_source=x", site_rules=r) == legacy
    assert canonicalize("https://reuters.com/world/europe/x-2022-03-07", site_rules=r) == \
        "https://www.reuters.com/world/europe/x-2022-03-07/"


def _random_urls(rng, n: int):
    """URLs from characters that do and do not need w3lib (or a parser) to normalise them."""
    import string
    path_chars = string.ascii_letters + string.digits + "-._~/" * 6 + "%?#=&: "
    for _ in range(n):
        labels = ["".join(rng.choice(string.ascii_lowercase + string.digits + "-")
                          for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(2, 4))]
        numbers = ".".join(rng.choice(["0x7f", "1", "256", "08", "0"]) for _ in range(rng.randint(1, 5)))
        host = rng.choice([".".join(labels), "xn--" + ".".join(labels), ".".join(labels).upper(), "m." + ".".join(labels),
                           numbers, labels[0] + "." + numbers])   # hosts ending in a number: IPv4 to w3lib 2.6
        yield (rng.choice(["http", "https", "HTTP"]) + "://" + host + rng.choice(["", ":8080"]) + "/"
               + "".join(rng.choice(path_chars) for _ in range(rng.randint(0, 40))))


def test_urls_the_fast_path_skips_w3lib_for_are_ones_w3lib_leaves_unchanged():
    """``_canon`` skips w3lib for URLs matching ``W3LIB_FIXED_POINT``: on 40,000 random URLs
    (seeded) built from characters that do and do not need w3lib, every one the pattern lets
    through is one w3lib returns as is, and canonicalize gives what it gives with w3lib always run."""
    import random
    import string

    from w3lib.url import canonicalize_url

    import dedup.urls as urls_mod

    through = 0
    for url in _random_urls(random.Random(12), 40_000):
        if urls_mod.W3LIB_FIXED_POINT.match(url):
            through += 1
            assert canonicalize_url(url) == url, url
    assert through > 1_000          # the pattern is exercised, not just refused
    for refused in ("https://e.com/a/./b", "https://e.com/a/..", "https://e.com/a?b=1", "https://e.com/a#f",
                    "https://E.com/a", "https://e.com:443/a", "https://e.com", "https://e.com/%41", "HTTPS://e.com/a", "https://0x7f.1/a", "https://1.2.3.4/a", "https://a.b.6/a"):
        assert not urls_mod.W3LIB_FIXED_POINT.match(refused), refused
    # The other functions that skip their parsing for such URLs (``is_plain_url``) give what they
    # give when they parse: discovery's absolute_http_url and normalize_url, and canonicalize.
    from crawl.links import normalize_url
    from crawl.xmldocs import absolute_http_url
    rules = urls_mod.rules_for("reuters")
    sample = ["https://www.reuters.com/world/x-2024-01-01/", "https://amp.reuters.com/amp/world/y/",
              "https://www.reuters.com//world//z", "https://m.reuters.com/world/a.amp"]
    sample += [u for u in (_random_urls(random.Random(13), 4_000)) if urls_mod.is_plain_url(u)]
    assert len(sample) > 100

    def each(u):
        return (urls_mod.canonicalize(u, site_rules=rules), urls_mod.canonicalize(u),
                normalize_url(u), absolute_http_url(u, "https://base.example/x/"))
    fast = [each(u) for u in sample]
    original = urls_mod.W3LIB_FIXED_POINT
    try:
        urls_mod.W3LIB_FIXED_POINT = __import__("re").compile(r"(?!)")   # never matches: every URL parsed
        assert [each(u) for u in sample] == fast
    finally:
        urls_mod.W3LIB_FIXED_POINT = original
    assert all(n == u and a == u for u, (_, _, n, a) in zip(sample, fast))
