"""Every Site (sites/<name>.py) agrees with everything else that knows the site: the extractor
registry, the URL canonicaliser, the embedded config, the replay web and the golden pages."""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import extractors
import sites
from crawl.config import load_config
from dedup.urls import canonicalize, rules_for
from extractors.base import Extractor
from extractors.registry import Registry, RegistryError
from replay import Corpus, Knobs, LoopbackServer, build_app
from replay.corpus import HOST_TO_SITE
from sites import Site, SiteError, SiteRules

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "tests" / "pages"
MANIFEST = json.loads((PAGES / "manifest.json").read_text("utf-8"))
SITES = sites.all()
IDS = [s.name for s in SITES]


def test_the_registry_finds_each_site_by_name_and_host():
    assert sorted(sites.names()) == ["almayadeen", "reuters"]
    for site in SITES:
        assert sites.get(site.name) is site and sites.find(site.name) is site
        assert all(sites.for_host(d) is site for d in site.domains)
    assert sites.find("example") is None and sites.for_host("news.example") is None
    with pytest.raises(SiteError, match=r"^no site named 'nope'; defined sites: almayadeen, reuters \(add one "
                                        r"as sites/nope.py, see docs/EXTRACTORS.md\)$"):
        sites.get("nope")


@pytest.mark.parametrize("site", SITES, ids=IDS)
def test_extractor_domains_are_the_sites(site):
    if site.extractor == sites.SHARED_EXTRACTOR:   # no extractor of its own: generic pages
        assert all(extractors.extractor_for(f"https://{d}/x") is extractors.GENERIC for d in site.domains)
        return
    ext = extractors.registry.get(site.extractor)
    assert ext.domains is site.domains        # the same tuple: read from the Site, not copied
    assert extractors.registry.for_site(site.name) is ext
    for d in site.domains:
        assert extractors.registry.for_url(f"https://{d}/any/path") is ext
        assert extractors.extractor_for(f"https://{d}/x") is ext


@pytest.mark.parametrize("site", SITES, ids=IDS)
def test_url_rules_are_the_sites(site):
    rules = rules_for(site.name)
    assert rules is site.url_rules
    assert rules.name == site.name and rules.domains == site.domains
    assert rules.host in site.domains
    for d in site.domains:      # every domain of the site canonicalises to the preferred host
        assert urlsplit(canonicalize(f"http://{d}/a/b", site_rules=rules)).hostname == rules.host


@pytest.mark.parametrize("site", SITES, ids=IDS)
def test_embedded_config_is_the_sites_defaults(site, monkeypatch):
    monkeypatch.delenv("NEWSARCHIVE_CONFIG", raising=False)
    cfg = load_config()
    assert set(cfg.sites) == set(sites.names())
    got = cfg.site(site.name)
    assert got.domains == site.domains and got.extractor == site.extractor
    for key in ("start_pages", "feeds", "sitemaps", "archive_pages", "schedule", "timezone"):
        assert getattr(got, key) == getattr(site, key), key
    assert {"concurrency_per_host": got.politeness.concurrency_per_host,
            "delay_s": got.politeness.delay_s} == dict(site.politeness)


@pytest.mark.parametrize("site", SITES, ids=IDS)
def test_golden_pages_are_on_the_sites_domains_and_canonical(site):
    folder = ROOT / site.golden_pages
    names = sorted(n for n in MANIFEST if n.startswith(f"{site.name}/"))
    assert folder.is_dir() and names, f"{site.golden_pages}: no golden pages"
    assert {p.name.removesuffix(".html.gz") for p in folder.glob("*.html.gz")} == {n.split("/", 1)[1] for n in names}
    for name in names:
        fetched = MANIFEST[name]["url"]
        record = json.loads((PAGES / f"{name}.json").read_text("utf-8"))
        assert site.owns(urlsplit(fetched).hostname) and site.owns(urlsplit(record["url"]).hostname), name
        assert record["site"] == site.name and record["extractor"] == MANIFEST[name].get("extractor", site.extractor)
        # Both URLs are already canonical under the Site's rules, and the page's own canonical
        # (rel=canonical, kept as the record's url) wins over the fetched one: same site.
        assert canonicalize(fetched, site_rules=site.url_rules) == fetched, name
        assert canonicalize(record["url"], site_rules=site.url_rules) == record["url"], name
        assert canonicalize(fetched, site_rules=site.url_rules, canonical_hint=record["url"]) == record["url"]


def test_every_golden_page_folder_belongs_to_a_site():
    folders = {p.name for p in PAGES.iterdir() if p.is_dir()}
    assert folders == {Path(s.golden_pages).name for s in SITES}
    assert {n.split("/", 1)[0] for n in MANIFEST} <= set(sites.names())


@pytest.fixture(scope="module")
def replay_srv():
    with LoopbackServer(build_app(Corpus(seed=3, per_site=30), Knobs())) as srv:
        yield srv


def _get(srv, url: str) -> httpx.Response:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return httpx.get(srv.url + path, headers={"Host": parts.hostname}, timeout=10)


@pytest.mark.parametrize("site", SITES, ids=IDS)
def test_replay_template_serves_the_sites_domains_and_urls(site, replay_srv):
    if not site.replay_template:   # a site the replay web does not imitate: none of its hosts is served
        assert all(_get(replay_srv, f"https://{d}/").status_code == 404 for d in site.domains)
        return
    template = importlib.import_module(site.replay_template)
    assert template.HOST == site.url_rules.host
    for d in site.domains:
        assert HOST_TO_SITE[d] == site.name
        assert _get(replay_srv, f"https://{d}/").status_code == 200, d
    defaults = site.start_pages + site.feeds + site.sitemaps + tuple(u.format(page=1) for u in site.archive_pages)
    for url in defaults:
        r = _get(replay_srv, url)
        assert r.status_code == 200 and r.content, url
    # Control: a host no Site defines is refused, so the 200s above are the replay's own.
    refused = _get(replay_srv, "https://news.example/")
    assert refused.status_code == 404 and "unknown host" in refused.text


def test_site_definition_contradictions_are_one_line_errors():
    with pytest.raises(SiteError, match=r"^site 'x' \(sites/x.py\): domain 'https://x.example/' is not a bare "
                                        r"lowercase host name; write 'www.example.com', not a URL$"):
        Site(name="x", domains=("https://x.example/",), extractor="x")
    with pytest.raises(SiteError, match=r"^site 'x' \(sites/x.py\): url_rules host 'www.x.example' is not one of "
                                        r"its domains \['x.example'\]; add it to domains or fix the host$"):
        Site(name="x", domains=("x.example",), extractor="x", url_rules=SiteRules(host="www.x.example"))
    site = Site(name="x", domains=("x.example",), extractor="x", url_rules=SiteRules(trailing_slash=True))
    assert site.url_rules.name == "x" and site.url_rules.domains == ("x.example",)
    assert site.golden_pages == "tests/pages/x"


def test_an_extractor_with_other_domains_than_its_site_is_refused():
    class Drifted(Extractor):
        name = "reuters"
        domains = ("www.reuters.com",)     # the Site also lists reuters.com

    with pytest.raises(RegistryError, match=r"^extractor 'reuters' serves domains \['www.reuters.com'\] but its "
                                            r"site 'reuters' lists \['www.reuters.com', 'reuters.com'\]; set "
                                            r"domains = SITE.domains \(from sites/reuters.py\) in the extractor "
                                            r"class$"):
        Registry().register(Drifted())
