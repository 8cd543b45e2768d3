"""Drift alarm logic, without Prefect."""
from datetime import datetime, timezone

from crawl.config import HealthSettings
from crawl.health import SiteHealth, check, missing_fields
from extractors import Article

GOOD = Article(url="u", site="s", title="T", body="x" * 300, published_at=datetime(2024, 1, 1, tzinfo=timezone.utc))


def test_missing_fields():
    assert missing_fields(GOOD, 200) == []
    assert missing_fields(None, 200) == ["title", "body", "date"]
    short = Article(url="u", site="s", title="", body="short", quality=[])
    assert missing_fields(short, 200) == ["title", "body", "date"]
    borrowed = Article(url="u", site="s", title="T", body="x" * 300, published_at=GOOD.published_at,
                       quality=["body:generic"])
    assert missing_fields(borrowed, 200) == ["body"]


def test_alarm_only_under_threshold_and_with_enough_pages():
    settings = HealthSettings(threshold=0.8, min_pages=5, min_body_chars=200)
    h = SiteHealth("am", "almayadeen")
    for i in range(4):
        h.record(f"https://x/{i}", ["body"])
    assert check(h, settings) is None                      # 4 pages: too few to judge
    for i in range(4, 10):
        h.record(f"https://x/{i}", [])
    alarm = check(h, settings)                             # body 60 % < 80 %
    assert alarm.failing == ["body"] and alarm.shares["title"] == 1.0
    assert alarm.examples["body"] == ["https://x/0", "https://x/1", "https://x/2"]
    assert "am: extractor 'almayadeen' looks broken" in alarm.message(0.8)
    assert "fix extractors/almayadeen.py" in alarm.message(0.8)
    ok = SiteHealth("am", "almayadeen")
    for i in range(10):
        ok.record(f"https://x/{i}", ["date"] if i < 2 else [])
    assert check(ok, settings) is None                     # date 80 %: at the threshold, fine
    assert check(SiteHealth("g", "generic", pages=100), settings) is None
