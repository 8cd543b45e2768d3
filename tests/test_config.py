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
    ({"politeness": {"delay_s": -1}}, "delay_s = -1.0 is out of range: it must be a finite number within 0..3600"),
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


# -- issue 10: every number finite and in range, header values clean, type/file errors one line --

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("section, key, value, message", [
    ("politeness", "delay_s", NAN,
     "my.toml: [sites.ex].politeness delay_s = nan is out of range: it must be a finite number within "
     "0..3600; e.g. delay_s = 1.0"),
    ("politeness", "delay_s", INF,
     "my.toml: [sites.ex].politeness delay_s = inf is out of range: it must be a finite number within "
     "0..3600; e.g. delay_s = 1.0"),
    ("politeness", "concurrency_per_host", 0,
     "my.toml: [sites.ex].politeness concurrency_per_host = 0 is out of range: it must be a finite number "
     "within 1..64; e.g. concurrency_per_host = 2"),
    ("fetch", "timeout_s", INF,
     "my.toml: [fetch] timeout_s = inf is out of range: it must be a finite number > 0 and <= 3600; "
     "e.g. timeout_s = 20.0"),
    ("fetch", "timeout_s", 0,
     "my.toml: [fetch] timeout_s = 0.0 is out of range: it must be a finite number > 0 and <= 3600; "
     "e.g. timeout_s = 20.0"),
    ("fetch", "backoff_max_s", -1,
     "my.toml: [fetch] backoff_max_s = -1.0 is out of range: it must be a finite number within 0..3600; "
     "e.g. backoff_max_s = 30.0"),
    ("fetch", "backoff_base_s", NAN,
     "my.toml: [fetch] backoff_base_s = nan is out of range: it must be a finite number within 0..3600; "
     "e.g. backoff_base_s = 0.5"),
    ("fetch", "retries", -1,
     "my.toml: [fetch] retries = -1 is out of range: it must be a finite number within 0..20; e.g. retries = 3"),
    ("fetch", "max_bytes", 0,
     "my.toml: [fetch] max_bytes = 0 is out of range: it must be a finite number within 1..1e+09; "
     "e.g. max_bytes = 5000000"),
    ("health", "threshold", NAN,
     "my.toml: [health] threshold = nan is out of range: it must be a finite number within 0..1; "
     "e.g. threshold = 0.8"),
    ("health", "min_pages", 0,
     "my.toml: [health] min_pages = 0 is out of range: it must be a finite number within 1..1e+06; "
     "e.g. min_pages = 5"),
])
def test_numbers_must_be_finite_and_in_range(section, key, value, message):
    raw = _site()
    if section == "politeness":
        raw["sites"]["ex"]["politeness"] = {key: value}
    else:
        raw[section] = {key: value}
    with pytest.raises(ConfigError) as e:
        parse_config(raw, "my.toml")
    assert str(e.value) == message


def test_nan_and_inf_in_a_toml_file_are_refused(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[fetch]\ntimeout_s = inf\n[sites.ex]\ndomains = ["news.example"]\nextractor = "generic"\n'
                 'feeds = ["https://news.example/rss"]\n')
    with pytest.raises(ConfigError, match=r"c.toml: \[fetch\] timeout_s = inf is out of range"):
        load_config(f)


@pytest.mark.parametrize("ua, shown", [
    ("bot/1.0\nX-Evil: 1", "contains '\\n'"),
    ("bot/1.0\r", "contains '\\r'"),
    ("bot\x00", "contains '\\x00'"),
    ("bot/1.0 \u00e9", "contains '\u00e9'"),
    ("  ", "is empty"),
])
def test_user_agent_without_control_characters(ua, shown):
    with pytest.raises(ConfigError) as e:
        parse_config({**_site(), "fetch": {"user_agent": ua}}, "my.toml")
    assert str(e.value) == (f"my.toml: [fetch] user_agent {shown}; it is sent as an HTTP header, so use "
                            f"printable ASCII on one line, e.g. user_agent = 'mybot/1.0 (+https://example.org/bot)'")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("override, message", [
    ({"timezone": 3}, "my.toml: [sites.ex] timezone = 3 must be a string, e.g. timezone = 'Asia/Beirut'"),
    ({"timezone": ["UTC"]}, "my.toml: [sites.ex] timezone = ['UTC'] must be a string, e.g. timezone = 'Asia/Beirut'"),
    ({"schedule": 5}, "my.toml: [sites.ex] schedule = 5 must be a string, e.g. schedule = '*/30 * * * *'"),
    ({"force_https": "no"}, "my.toml: [sites.ex] force_https = 'no' must be of type bool"),
])
def test_wrong_types_are_one_line(override, message):
    with pytest.raises(ConfigError) as e:
        parse_config(_site(**override), "my.toml")
    assert str(e.value) == message


def test_non_utf8_and_unreadable_files(tmp_path):
    f = tmp_path / "latin.toml"
    f.write_bytes('[fetch]\nuser_agent = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(e.value) == f"{f}: not UTF-8 text (byte 0xe9 at offset 25); save the file as UTF-8"
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path)            # a directory
    assert str(e.value).startswith(f"config file {tmp_path} cannot be read (") and "--config" in str(e.value)


def test_force_https_per_site_defaults_true():
    assert parse_config(_site(), "my.toml").site("ex").force_https is True
    assert parse_config(_site(force_https=False), "my.toml").site("ex").force_https is False


def test_politeness_override_is_checked_too():
    cfg = parse_config(_site(), "my.toml")
    for bad in (INF, NAN, -1.0):
        with pytest.raises(ConfigError, match=r"my.toml \(override\): politeness delay_s = .* is out of range"):
            cfg.with_politeness(delay_s=bad)


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e9", "soon"])
def test_cli_delay_must_be_finite_seconds(value):
    from click.testing import CliRunner

    from flows.cli import cli
    result = CliRunner().invoke(cli, ["run", "--delay", value])
    assert result.exit_code == 2
    assert "--delay" in result.output and "e.g. --delay 0.5" in result.output
    assert "Traceback" not in result.output


# -- issue 15: a [sites.NAME] table of a defined Site (sites/NAME.py) starts from its defaults --

def test_a_site_table_takes_the_sites_defaults_and_overrides_key_by_key(tmp_path):
    import sites
    f = tmp_path / "c.toml"
    f.write_text('[sites.reuters]\nschedule = "*/20 * * * *"\n[sites.reuters.politeness]\ndelay_s = 2.5\n')
    rt, site = load_config(f).site("reuters"), sites.get("reuters")
    assert rt.schedule == "*/20 * * * *" and rt.politeness.delay_s == 2.5
    assert rt.politeness.concurrency_per_host == site.politeness["concurrency_per_host"]
    assert (rt.domains, rt.extractor, rt.sitemaps, rt.timezone) == (site.domains, site.extractor, site.sitemaps,
                                                                     site.timezone)
    narrowed = parse_config({"sites": {"reuters": {"domains": ["www.reuters.com"], "extractor": "generic"}}}, "my.toml")
    assert narrowed.site("reuters").domains == ("www.reuters.com",)
    assert narrowed.site("reuters").extractor == "generic"


@pytest.mark.parametrize("name, body, message", [
    ("reuters", {"domains": ["www.reuters.com", "evil.example"]},
     "my.toml: [sites.reuters] domain 'evil.example' is not a domain of site 'reuters', whose extractor and URL "
     "rules know only ['www.reuters.com', 'reuters.com'] (sites/reuters.py); remove it, or add it to the Site's "
     "domains if it serves the same pages"),
    ("almayadeen", {"extractor": "reuters"},
     "my.toml: [sites.almayadeen] extractor 'reuters' does not fit site 'almayadeen'; use 'almayadeen' (its own, "
     "sites/almayadeen.py) or 'generic', or drop the setting"),
    ("mirror", {"domains": ["reuters.com"], "extractor": "generic", "start_pages": ["https://reuters.com/"]},
     "my.toml: [sites.mirror] domain 'reuters.com' belongs to site 'reuters' (sites/reuters.py); configure it "
     "under [sites.reuters] instead"),
    ("ex", {"domains": ["news.example"], "extractor": "reuters", "start_pages": ["https://news.example/"]},
     "my.toml: [sites.ex] extractor 'reuters' is written for site 'reuters' and knows only its domains; name the "
     "table [sites.reuters] or use extractor = 'generic'"),
    ("reuters", {"start_pages": ["https://news.example/"]},
     "my.toml: [sites.reuters] start_pages entry 'https://news.example/' is outside the site's domains "
     "['www.reuters.com', 'reuters.com']; use a URL on those domains or remove it"),
])
def test_a_site_table_is_validated_against_its_site(name, body, message):
    with pytest.raises(ConfigError) as e:
        parse_config({"sites": {name: body}}, "my.toml")
    assert str(e.value) == message


def test_the_embedded_default_crawls_every_defined_site_and_a_file_only_its_own(tmp_path, monkeypatch):
    """A new site module is crawled by the embedded default without a line in crawl/sites.toml."""
    import sites
    from sites import Site
    new = Site(name="example", domains=("news.example",), extractor="generic", url_rules=sites.SiteRules(
        host="news.example", trailing_slash=False), start_pages=("https://news.example/",), timezone="Asia/Tokyo")
    monkeypatch.setitem(sites._SITES, "example", new)
    monkeypatch.delenv("NEWSARCHIVE_CONFIG", raising=False)
    cfg = load_config()
    assert list(cfg.sites) == ["almayadeen", "reuters", "example"]
    ex = cfg.site("example")
    assert (ex.domains, ex.extractor, ex.start_pages, ex.timezone) == (new.domains, "generic", new.start_pages,
                                                                        "Asia/Tokyo")
    from dedup.urls import canonicalize, rules_for
    assert canonicalize("http://news.example/a/b/?utm_source=x", site_rules=rules_for("example")) \
        == "https://news.example/a/b"
    own = tmp_path / "own.toml"
    own.write_text("[sites.reuters]\n")
    assert list(load_config(own).sites) == ["reuters"]
    with pytest.raises(ConfigError, match=r"\[sites.mirror\] domain 'news.example' belongs to site 'example'"):
        parse_config({"sites": {"mirror": {"domains": ["news.example"], "extractor": "generic",
                                           "feeds": ["https://news.example/rss"]}}}, "my.toml")
