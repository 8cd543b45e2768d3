"""Reuters (www.reuters.com): the one definition of the site.

Extractor: extractors/reuters.py (dated layout variants, as in Fundus).
"""
from .base import Site
from .url_rules import SiteRules

SITE = Site(
    name="reuters",
    domains=("www.reuters.com", "reuters.com"),
    extractor="reuters",
    # Article paths end with '/', the bare domain redirects to www, and its own share links add
    # ``taid``/``rpc``; 2010s URLs (/article/us-...-idUSKBN1ZI0EH) have no trailing slash.
    url_rules=SiteRules(host="www.reuters.com", trailing_slash=True,
                        extra_params=frozenset({"taid", "rpc", "edition-redirect"}),
                        slash_exempt=("/article/",)),
    start_pages=(
        "https://www.reuters.com/",
        "https://www.reuters.com/world/",
    ),
    feeds=("https://www.reuters.com/arc/outboundfeeds/rss/?outputType=xml",),
    sitemaps=(
        "https://www.reuters.com/arc/outboundfeeds/sitemap-index/?outputType=xml",
        "https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml",
    ),
    archive_pages=(
        "https://www.reuters.com/world/?page={page}",
        "https://www.reuters.com/business/?page={page}",
        "https://www.reuters.com/breakingviews/?page={page}",
    ),
    schedule="15 * * * *",
    timezone="UTC",
    politeness={"concurrency_per_host": 2, "delay_s": 1.0},
    replay_template="replay.sites.reuters",
)
