"""End to end: the real Prefect flow crawls the replay web into a real DuckLake archive, twice."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from storage.lake import Archive
from storage.sql import query

pytestmark = pytest.mark.prefect

AM_SEED = "https://english.almayadeen.net/news/politics/russia-ukraine-diplomats-arrive-in-turkey-for-talks"
RT_SEED = "https://www.reuters.com/world/europe/top-russian-ukrainian-diplomats-meet-thursday-turkey-2022-03-07/"


@pytest.fixture(scope="module")
def replay_small():
    from replay import start_replay

    srv = start_replay(seed=3, per_site=30)
    yield srv
    srv.stop()


async def test_scrape_twice_archives_once_and_counts_not_modified(prefect_harness, replay_small, tmp_path):
    from flows.scrape import scrape

    arch = Archive(tmp_path / "archive")
    first = await scrape(archive=str(arch.root), replay_url=replay_small.url, delay_s=0.0)
    stats = first["stats"]
    assert set(stats) == {"almayadeen", "reuters"}
    for site, c in stats.items():
        assert c["fetched"] >= 30, (site, c)
        assert c["new"] == c["extracted"] == c["stored"] and c["new"] >= 30, (site, c)
        assert not any(k.startswith("failed") for k in c), (site, c)

    _, by_site = query(arch, "SELECT site, count(*) FROM articles GROUP BY site ORDER BY site")
    assert [s for s, _ in by_site] == ["almayadeen", "reuters"]
    assert dict(by_site) == {s: c["stored"] for s, c in stats.items()}

    _, rows = query(arch, f"SELECT title, published_at, authors, body, warc_file FROM articles WHERE url = '{AM_SEED}'")
    title, published, authors, body, warc_file = rows[0]
    assert title == "Russia, Ukraine diplomats arrive in Turkey for talks"
    assert published == datetime(2022, 3, 10, 6, 33, tzinfo=timezone.utc)
    assert authors == ["Al Mayadeen Net"]
    assert body.startswith("The foreign ministers of Russia and Ukraine have arrived in Turkey")
    assert "Turkey mediates" in body and "Related News" not in body and "BREAKING" not in body
    assert (arch.warc_dir / warc_file).exists()

    _, rows = query(arch, f"SELECT title, published_at, body FROM articles WHERE url = '{RT_SEED}'")
    title, published, body = rows[0]
    assert title == "Top Russian and Ukrainian diplomats to meet Thursday in Turkey"
    assert published.date().isoformat() == "2022-03-07" and published.tzinfo is not None
    assert body.startswith("ISTANBUL, March 7")
    assert "Register now" not in body and "Trust Principles" not in body

    # The search refresh runs beside the reports (flows/scrape.py): done when the flow returns.
    from storage.search import indexed_snapshot, search
    assert indexed_snapshot(arch) == first["snapshot"]
    assert AM_SEED in [h.url for h in search(arch, "Russia Ukraine diplomats arrive in Turkey")][:3]
    assert {"commit", "save_dedup", "search_refresh"} <= set(first["timings"])

    versions_before = query(arch, "SELECT count(*) FROM article_versions")[1][0][0]
    second = await scrape(archive=str(arch.root), replay_url=replay_small.url, delay_s=0.0)
    for site, c in second["stats"].items():
        assert c.get("new", 0) == 0 and c.get("changed", 0) == 0, (site, c)
        assert c.get("not_modified", 0) + c.get("unchanged", 0) >= stats[site]["fetched"], (site, c)
    versions_after = query(arch, "SELECT count(*) FROM article_versions")[1][0][0]
    assert versions_after == versions_before
    assert second["snapshot"] == first["snapshot"] + 1

    _, rows = query(arch, "SELECT run_id, status FROM runs ORDER BY started_at")
    assert [r[0] for r in rows] == [first["run_id"], second["run_id"]]
    _, rows = query(arch, f"SELECT value FROM run_stats WHERE run_id = '{second['run_id']}' "
                          f"AND site = 'reuters' AND counter = 'not_modified'")
    assert rows and rows[0][0] == second["stats"]["reuters"]["not_modified"]

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    async with get_client() as client:
        arts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["scrape-run-stats"])))
    assert any(second["run_id"] in (a.data or "") and "| not_modified |" in (a.data or "") for a in arts)


async def test_redesigned_site_raises_a_drift_alarm_and_loses_nothing(prefect_harness, tmp_path):
    from flows.scrape import scrape
    from replay import Knobs, start_replay

    arch = Archive(tmp_path / "archive")
    with start_replay(seed=4, per_site=12, knobs=Knobs(redesign=True)) as srv:
        state = await scrape(archive=str(arch.root), replay_url=srv.url, delay_s=0.0,
                             sites=["almayadeen"], return_state=True)
    assert state.type.value == "COMPLETED" and state.name == "Drift"
    assert "almayadeen: extractor 'almayadeen' looks broken" in state.message
    result = await state.result()
    (alarm,) = result["drift"]
    assert alarm["site"] == "almayadeen" and "body" in alarm["failing"]
    assert alarm["examples"]["body"][0].startswith("https://english.almayadeen.net/")
    # Every fetched page is still stored (via the generic fallback) and its raw response kept.
    fetched = result["stats"]["almayadeen"]["fetched"]
    _, rows = query(arch, "SELECT count(*), count(*) FILTER (WHERE list_contains(quality, 'body:generic')), "
                          "count(DISTINCT warc_file) FROM articles")
    assert rows[0][0] == fetched and rows[0][1] >= fetched * 0.8 and rows[0][2] >= 1
    _, rows = query(arch, "SELECT status FROM runs")
    assert rows == [("drift",)]

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    async with get_client() as client:
        arts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["scrape-run-stats"])))
    assert any(result["run_id"] in (a.data or "") and "# Extraction drift" in (a.data or "") for a in arts)


async def test_reextract_recovers_the_pages_of_a_broken_extractor(prefect_harness, tmp_path, monkeypatch):
    """The drift scenario: the site extractor breaks (returns no body), the run raises the alarm and
    stores the generic fallback; once the extractor is fixed, `reextract` (no network) writes the
    site extractor's records for every page of the broken period."""
    import extractors
    from flows.reextract import reextract_flow
    from flows.scrape import scrape
    from replay import start_replay

    am = extractors.registry.get("almayadeen")
    real_parse = type(am).parse

    def broken(self, html, url):
        art = real_parse(self, html, url)
        art.body = ""            # "the site changed its markup": no body found any more
        return art
    monkeypatch.setattr(type(am), "parse", broken)
    arch = Archive(tmp_path / "archive")
    with start_replay(seed=12, per_site=15) as srv:
        state = await scrape(archive=str(arch.root), replay_url=srv.url, delay_s=0.0,
                             sites=["almayadeen"], return_state=True)
    assert state.name == "Drift"
    _, rows = query(arch, "SELECT count(*) FROM articles WHERE list_contains(quality, "
                          "'fallback:generic(from almayadeen)')")
    broken_pages = rows[0][0]
    assert broken_pages >= 15

    monkeypatch.setattr(type(am), "parse", real_parse)   # the fix
    result = await reextract_flow(sites=["almayadeen"], archive=str(arch.root))
    assert result["stats"]["almayadeen"]["changed"] == broken_pages
    _, rows = query(arch, "SELECT count(*) FROM articles WHERE extractor = 'almayadeen' AND version = 2 "
                          "AND list_contains(changed, 'body')")
    assert rows[0][0] == broken_pages
    _, rows = query(arch, f"SELECT body FROM articles WHERE url = '{AM_SEED}'")
    assert rows and rows[0][0].startswith("The foreign ministers of Russia and Ukraine have arrived in Turkey")
    # Nothing changed: a second re-extraction writes nothing.
    again = await reextract_flow(sites=["almayadeen"], archive=str(arch.root))
    assert again["stats"]["almayadeen"].get("changed", 0) == 0
    assert again["stats"]["almayadeen"]["unchanged"] == again["stats"]["almayadeen"]["pages"]
