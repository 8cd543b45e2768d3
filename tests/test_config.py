"""Site config: the embedded default loads; every malformed setting gets an error naming it and the fix."""
import pytest

from crawl.config import ConfigError, load_config, parse_config


def test_default_config_has_both_seed_sites():
    cfg = load_config()
    assert set(cfg.sites) == {"almayadeen", "reuters"}
    am = cfg.site("almayadeen")
    assert am.timezone == "Asia/Beirut" and am.extractor == "almayadeen"
    assert am.owns("https://english.almayadeen.net/news/politics/x")
    assert not am.owns("https://www.reuters.com/world/x")
    assert cfg.site("reuters").owns("https://reuters.com/world/x")


def _site(**over):
    body = {"domains": ["news.example"], "extractor": "generic", "start_pages": ["https://news.example/"]}
    body.update(over)
    return {"sites": {"ex": body}}


@pytest.mark.parametrize("override, fragment", [
    ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not an IANA zone"),
    ({"schedule": "every hour"}, "schedule 'every hour' is not a valid cron expression"),
    ({"extractor": "nope"}, "extractor 'nope' is unknown; known extractors: almayadeen, generic, reuters"),
    ({"domains": ["https://news.example/"]}, "is not a bare lowercase host name"),
    ({"start_pages": ["https://other.example/"]}, "is outside the site's domains"),
    ({"start_pages": ["ftp://news.example/"]}, "is not an http(s) URL"),
    ({"colour": "red"}, "unknown setting(s) colour"),
    ({"politeness": {"delay_s": -1}}, "delay_s >= 0"),
    ({"politeness": {"concurency_per_host": 2}}, "[sites.ex].politeness has unknown setting(s) concurency_per_host"),
    ({"start_pages": []}, "has no start_pages, feeds or sitemaps"),
    ({"max_articles": 0}, "max_articles must be a positive integer"),
])
def test_bad_site_settings_name_site_setting_and_fix(override, fragment):
    with pytest.raises(ConfigError) as e:
        parse_config(_site(**override), "my.toml")
    assert "my.toml: [sites.ex]" in str(e.value)
    assert fragment in str(e.value)


def test_missing_required_key_and_shared_domain():
    raw = _site()
    del raw["sites"]["ex"]["extractor"]
    with pytest.raises(ConfigError, match=r"\[sites.ex\] is missing 'extractor'; add e.g. extractor = \"generic\""):
        parse_config(raw, "my.toml")
    raw = _site()
    raw["sites"]["ex2"] = dict(raw["sites"]["ex"])
    with pytest.raises(ConfigError, match="domain 'news.example' is listed by sites 'ex' and 'ex2'"):
        parse_config(raw, "my.toml")


def test_fetch_settings_types_and_files(tmp_path):
    with pytest.raises(ConfigError, match=r"\[fetch\] timeout_s = 'fast' must be of type float"):
        parse_config({**_site(), "fetch": {"timeout_s": "fast"}}, "my.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[sites.ex\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    good = tmp_path / "good.toml"
    good.write_text('[fetch]\nretries = 1\n[sites.ex]\ndomains = ["news.example"]\nextractor = "generic"\n'
                    'feeds = ["https://news.example/rss"]\n[sites.ex.politeness]\ndelay_s = 2\n')
    cfg = load_config(good)
    assert cfg.fetch.retries == 1 and cfg.site("ex").politeness.delay_s == 2.0
    with pytest.raises(ConfigError, match="no site named 'nope'; configured sites: ex"):
        cfg.site("nope")
    assert cfg.with_politeness(delay_s=0).site("ex").politeness.delay_s == 0
