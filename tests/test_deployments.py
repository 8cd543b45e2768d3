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


def test_the_crash_automation_window_follows_the_deployment_files_heartbeat():
    """deploy/prefect.yaml gives flow runs a 30 s heartbeat: the automation waits 3 of them; a file
    that sets none gets Prefect's 180 s; a malformed value stops `deploy` before it registers anything."""
    import pytest

    from flows.cli_deploy import (CRASH_AUTOMATION, DEFAULT_PREFECT_FILE, DeployError, _read_prefect_file,
                                  crash_automation, heartbeat_seconds)

    spec = _read_prefect_file(DEFAULT_PREFECT_FILE)
    assert heartbeat_seconds(spec) == 30
    auto = crash_automation(heartbeat_seconds(spec))
    assert auto.name == CRASH_AUTOMATION and auto.trigger.within.total_seconds() == 90
    assert auto.trigger.match_related.root == {"prefect.resource.id": "prefect.tag.newsarchive"}
    assert all("newsarchive" in d["tags"] for d in spec["deployments"])   # what the automation matches
    assert heartbeat_seconds({"deployments": [{"name": "x"}]}) == 180
    bad = {"deployments": [{"name": "scrape-x", "work_pool": {"job_variables": {"env": {
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "half a minute"}}}}]}
    with pytest.raises(DeployError) as e:
        heartbeat_seconds(bad)
    assert str(e.value) == ("deployment 'scrape-x': PREFECT_FLOWS_HEARTBEAT_FREQUENCY = 'half a minute' is not a "
                            "whole number of seconds; set it to 30 or more")
