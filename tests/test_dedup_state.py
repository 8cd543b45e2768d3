"""Dedup indexes persist across runs; the story index loads only the months a window needs."""
from datetime import datetime, timedelta, timezone

from dedup.state import DedupState
from dedup.stories import StoryDoc

BODY = ("Russian Foreign Minister Sergei Lavrov and Ukrainian Foreign Minister Dmytro Kuleba will meet "
        "in Antalya, Turkey, Turkish Foreign Minister Mevlut Cavusoglu said on Monday. ") * 3


def doc(i, when, title="Lavrov and Kuleba to meet in Antalya, Turkey"):
    return StoryDoc(f"https://x/{i}", "s", title, BODY, when)


def test_story_months_round_trip_and_window_loading(tmp_path):
    t0 = datetime(2022, 3, 7, tzinfo=timezone.utc)
    st = DedupState.load(tmp_path)
    story_a = st.stories.assign(doc(1, t0))
    story_old = st.stories.assign(doc(2, datetime(2020, 1, 5, tzinfo=timezone.utc), "Other event in Berlin"))
    st.save()
    assert sorted(p.name for p in (tmp_path / "stories").glob("*.json")) == ["2020-01.json", "2022-03.json", "meta.json"]

    # A window in March 2022 loads March 2022 only, and still joins the story.
    win = DedupState.load(tmp_path, since=t0, until=t0 + timedelta(days=2))
    assert win.stories.assign(doc(3, t0 + timedelta(days=1))) == story_a
    assert win.stories.story_of("https://x/2") is None
    win.save()
    # Saving the window kept the month it did not load.
    full = DedupState.load(tmp_path)
    assert full.stories.story_of("https://x/2") == story_old
    assert full.stories.story_of("https://x/3") == story_a


def test_two_runs_saving_side_by_side_keep_each_others_articles(tmp_path):
    t0 = datetime(2022, 3, 7, tzinfo=timezone.utc)
    DedupState.load(tmp_path).save()
    a = DedupState.load(tmp_path)       # two workers load the same state ...
    b = DedupState.load(tmp_path)
    a.stories.assign(doc(1, t0))
    a.neardup.add("https://x/1", BODY)
    b.stories.assign(doc(2, t0 + timedelta(hours=5), "Berlin budget talks stall"))
    b.neardup.add("https://x/2", BODY.replace("Antalya", "Ankara") + " Extra words here for a distinct body text.")
    a.save()
    b.save()                            # ... and save one after the other
    merged = DedupState.load(tmp_path)
    assert merged.stories.story_of("https://x/1") and merged.stories.story_of("https://x/2")
    assert len(merged.neardup) == 2
    import json
    meta = json.loads((tmp_path / "stories" / "meta.json").read_text())
    assert meta["n"] == 2
