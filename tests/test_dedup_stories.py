"""Cross-source stories: the seed pair, the corpus's known events, topic-word-only pairs."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from dedup.stories import StoryDoc, StoryIndex
from replay.corpus import SITES, Corpus

CORPUS = Corpus(seed=1, per_site=300)


def doc(a) -> StoryDoc:
    return StoryDoc(a.url, a.site, a.title, "\n\n".join(a.paragraphs), a.published)


def test_seed_articles_share_a_story():
    idx = StoryIndex()
    rt = CORPUS.article("reuters", CORPUS.seed_index("reuters"))
    am = CORPUS.article("almayadeen", CORPUS.seed_index("almayadeen"))
    assert rt.story == am.story == "seed"
    s = idx.assign(doc(rt))
    assert idx.assign(doc(am)) == s
    assert idx.assign(doc(am)) == s        # assigning again keeps the story


def test_topic_word_only_is_not_a_story():
    t = datetime(2022, 3, 8, tzinfo=timezone.utc)
    idx = StoryIndex()
    a = idx.assign(StoryDoc("a", "reuters", "Ukraine wheat exports rise as ports reopen",
                            "Grain shipments from Odesa rose 12% in February, traders in Geneva said.", t))
    b = idx.assign(StoryDoc("b", "almayadeen", "Ukraine football team qualifies for the World Cup",
                            "Oleksandr Zinchenko scored twice as the squad beat Wales in Cardiff.", t + timedelta(days=1)))
    assert a != b


def test_window_and_corpus_groups():
    idx, got = StoryIndex(), {}
    arts = sorted((a for site in SITES for a in CORPUS.articles(site)), key=lambda a: a.published)
    for a in arts:
        got[(a.site, a.index)] = idx.assign(doc(a))
    groups = {a.story for a in arts if a.story}
    assert len(groups) >= 20
    for g in groups:
        members = CORPUS.story_members(g)
        times = [CORPUS.article(*m).published for m in members]
        assert max(times) - min(times) <= timedelta(days=3)
        assert len({got[m] for m in members}) == 1 and len({m[0] for m in members}) == 2
    # Articles outside known events stay alone.
    singles = [got[(a.site, a.index)] for a in arts if not a.story]
    assert len(set(singles)) >= len(singles) - 2
    # The same event far outside the window is a new story.
    a = CORPUS.article(*CORPUS.story_members(sorted(groups)[0])[0])
    late = StoryDoc("late", a.site, a.title, "\n\n".join(a.paragraphs), a.published + timedelta(days=30))
    assert idx.assign(late) != got[(a.site, a.index)]


def test_persistence_round_trip():
    idx = StoryIndex()
    rt = CORPUS.article("reuters", CORPUS.seed_index("reuters"))
    s = idx.assign(doc(rt))
    again = StoryIndex.from_json(json.loads(json.dumps(idx.to_json())))
    am = CORPUS.article("almayadeen", CORPUS.seed_index("almayadeen"))
    assert again.assign(doc(am)) == s and len(again) == 2 and again.story_of(rt.url) == s


def test_story_titles_and_urls_unique():
    big = Corpus(seed=2, per_site=3000)
    for site in SITES:
        assert len({big.url(site, i) for i in range(big.per_site)}) == big.per_site
        assert all(big.find(big.url(site, i)).index == i for i in range(8, big.per_site, 10))
