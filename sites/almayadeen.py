"""Al Mayadeen English (english.almayadeen.net): the one definition of the site.

Extractor: extractors/almayadeen.py (markup contract: docs/MARKUP.md).
"""
from .base import Site
from .url_rules import SiteRules

SITE = Site(
    name="almayadeen",
    domains=("english.almayadeen.net",),
    extractor="almayadeen",
    # Article paths never end with '/'; listings paginate with ?page=N, so the query is kept
    # apart from trackers.
    url_rules=SiteRules(host="english.almayadeen.net", trailing_slash=False),
    start_pages=(
        "https://english.almayadeen.net/",
        "https://english.almayadeen.net/news/politics",
    ),
    feeds=("https://english.almayadeen.net/rss",),
    sitemaps=("https://english.almayadeen.net/sitemaps/all.xml",),
    archive_pages=(
        "https://english.almayadeen.net/news?page={page}",
        "https://english.almayadeen.net/articles?page={page}",
        "https://english.almayadeen.net/videos?page={page}",
    ),
    schedule="*/30 * * * *",
    timezone="Asia/Beirut",   # the visible dates are Beirut local time
    politeness={"concurrency_per_host": 2, "delay_s": 1.0},
    replay_template="replay.sites.almayadeen",
)
