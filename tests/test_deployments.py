"""Deployments: one scheduled scrape per site, cron and parameters from the site config."""
from crawl.config import load_config
from flows.deployments import build_deployments


def test_one_deployment_per_site_with_its_cron():
    cfg = load_config()
    deps = build_deployments(cfg, archive="/data/archive")
    by_name = {d.name: d for d in deps}
    assert set(by_name) == {"scrape-almayadeen", "scrape-reuters"}
    for name, site in cfg.sites.items():
        d = by_name[f"scrape-{name}"]
        assert d.schedules[0].schedule.cron == site.schedule
        assert d.parameters == {"sites": [name], "archive": "/data/archive", "config_path": None}
        assert name in d.tags


def test_replay_deployments_point_at_the_replay_web():
    deps = build_deployments(load_config(), archive="a", sites=["reuters"], replay_url="http://127.0.0.1:9")
    (d,) = deps
    assert d.parameters["replay_url"] == "http://127.0.0.1:9" and d.parameters["delay_s"] == 0.0
