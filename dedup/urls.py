"""URL canonicalization: one key per article, whatever link we reached it by.

General rules come from w3lib (Scrapy's URL toolkit): ``canonicalize_url`` sorts
the query, normalises percent-encoding and drops the fragment, and
``url_query_cleaner`` removes parameters by name. On top of that, per-site
``SiteRules`` (declared by each ``Site``, sites/<name>.py) say which host is the
real one, whether article paths end with a slash, and which extra parameters are
noise. The same function serves every
site; unknown sites get ``DEFAULT_RULES``.

Order matters: host and AMP rewrites come before the query clean-up so that
``https://amp.example.com/amp/x?outputType=amp&utm_source=y`` and
``http://example.com/x/`` end up as the same string, and the result is a fixed
point (``canonicalize(canonicalize(u)) == canonicalize(u)``).
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url, url_query_cleaner

import sites
from sites.url_rules import SiteRules  # re-exported: the rules are data, applied here

# Click/campaign trackers seen on news links. Exact names; ``TRACKING_PREFIXES`` catches families.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "twclid", "ttclid", "igshid", "mc_cid",
    "mc_eid", "taid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
    "vero_id", "wickedid", "rb_clickid", "s_cid", "cmpid", "ocid", "ncid", "sr_share", "share",
    "smid", "ito", "at_medium", "at_campaign", "__twitter_impression", "guccounter",
})
TRACKING_PREFIXES = ("utm_", "pk_", "hsa_", "at_custom")
# Query parameters that only select the AMP rendering of the same page.
AMP_PARAMS = frozenset({"amp", "outputtype", "output"})
_AMP_VALUES = {"", "1", "true", "amp"}


DEFAULT_RULES = SiteRules()


def rules_for(site_name: str) -> SiteRules:
    """Rules of a site by name: its ``Site``'s (sites/<name>.py); ``DEFAULT_RULES`` named after
    it for any other site (a custom site of the config)."""
    site = sites.find(site_name)
    return site.url_rules if site is not None else SiteRules(name=site_name)


# URLs ``canonicalize_url`` returns unchanged: lowercase http(s) scheme and host (LDH labels, the
# last one starting with a letter: w3lib 2.6 reads a host ending in a number, "0x7f.1", as an IPv4
# address), a path of unreserved characters with no "." or ".." segment, no port, query or
# fragment (tests/test_dedup_urls.py checks the claim against w3lib on random URLs).
W3LIB_FIXED_POINT = re.compile(r"(?!.*/\.\.?(?:/|\Z))https?://(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
                               r"[a-z](?:[a-z0-9-]*[a-z0-9])?/[A-Za-z0-9\-._~/]*\Z")


def is_plain_url(url: str) -> bool:
    """Whether ``url`` matches ``W3LIB_FIXED_POINT``: then w3lib, ``urljoin`` (as an absolute URL),
    and crawl.links.normalize_url all leave it as it is, and its parts are plain to split. Most
    sitemap and link URLs are; discovery takes 6,000 of them through three of those functions
    before a crawl can start (issue 12), so each skips its parsing for them."""
    return W3LIB_FIXED_POINT.match(url) is not None


_AMP_PATH = re.compile(r"^/amp(?=/)|/amp/?$|\.amp$")
_VARIANT_HOST = re.compile(r"^(?:amp|m|mobile)\.")


def _is_noise(name: str, value: str, rules: SiteRules) -> bool:
    low = name.lower()
    if low in TRACKING_PARAMS or low in rules.extra_params or low.startswith(TRACKING_PREFIXES):
        return True
    return low in AMP_PARAMS and value.lower() in _AMP_VALUES


def _clean_query(query: str, rules: SiteRules) -> str:
    if rules.drop_query or not query:
        return ""
    keep = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if not _is_noise(name, value, rules):
            keep.append(part)
    return "&".join(keep)


def _canon(url: str, rules: SiteRules) -> str:
    url = url.strip()
    if is_plain_url(url):
        # w3lib would leave it as it is (most sitemap and link URLs): split by hand, no urlsplit.
        scheme, _, rest = url.partition("://")
        host, _, path = rest.partition("/")
        port, path, query = None, "/" + path, ""
    else:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return url   # mailto:, javascript:, relative links: not ours to rewrite
        # w3lib first (sorted query, percent-encoding normalised, fragment dropped), then our
        # rules, which only remove parts; so a second pass finds nothing left to change (idempotence).
        parts = urlsplit(canonicalize_url(url))
        scheme, host, port, path, query = parts.scheme, parts.hostname or "", parts.port, parts.path, parts.query
    scheme = "https" if rules.force_https else scheme
    host = host.rstrip(".")
    variant = _VARIANT_HOST.match(host)
    if variant and "." in host[variant.end():]:   # amp.x.com / m.x.com -> x.com, never "m.co" -> "co"
        host = host[variant.end():]
    if rules.host and rules.owns(host):
        host = rules.host
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", path or "/")
    while _AMP_PATH.search(path):   # /amp/x, /x/amp and x.amp all name the AMP rendering of x
        path = _AMP_PATH.sub("", path, count=1) or "/"
    if path != "/" and rules.trailing_slash is not None and not path.startswith(rules.slash_exempt):
        path = path.rstrip("/") + ("/" if rules.trailing_slash else "")
    return urlunsplit((scheme, netloc, path, _clean_query(query, rules), ""))


def _same_site(a: str, b: str, rules: SiteRules) -> bool:
    ha, hb = urlsplit(a).hostname or "", urlsplit(b).hostname or ""
    if rules.domains:
        return rules.owns(ha) and rules.owns(hb)
    # Unknown site: compare the last two labels (good enough to refuse another site's canonical).
    return ha.split(".")[-2:] == hb.split(".")[-2:]


def canonicalize(url: str, *, site_rules: SiteRules | None = None, canonical_hint: str | None = None) -> str:
    """The canonical form of ``url``.

    ``canonical_hint`` (the page's ``rel=canonical``) wins when it is an absolute http(s) URL
    on the same site; a hint to another site (syndication partners set those) or a broken
    one is ignored, because trusting it would let one site's page overwrite another's.
    """
    rules = site_rules or DEFAULT_RULES
    try:
        own = _canon(url, rules)
    except ValueError:
        # w3lib or urlsplit cannot read it ("http://[::1", a space or "%2f" in the host, a host
        # ending in a number that is no IPv4 address): no rewrite, as for mailto:; a fetch of it
        # fails as one line naming it.
        return url.strip()
    if canonical_hint:
        try:
            # Most pages name themselves as canonical: _canon is pure, its result is reused.
            hint = own if canonical_hint == url else _canon(canonical_hint, rules)
            if hint.startswith(("https://", "http://")) and _same_site(own, hint, rules):
                return hint
        except ValueError:
            pass   # a broken rel=canonical names no page: the article keeps its own URL
    return own
