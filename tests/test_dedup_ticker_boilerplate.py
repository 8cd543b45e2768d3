"""Ticker identity keys and learned site boilerplate."""
from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dedup.boilerplate import BoilerplateLearner
from dedup.ticker import distinct_items, normalize_ticker, paragraph_keys


def test_normalize_ticker_variants():
    a = "Al Mayadeen\u2019s correspondent in Gaza: \u201c12 killed\u201d \u2013 in  strikes\u2026"
    b = "BREAKING: al mayadeen's correspondent in gaza - '12 killed' in strikes"
    assert normalize_ticker(a) == normalize_ticker(b) == "al mayadeens correspondent in gaza 12 killed in strikes"
    assert normalize_ticker("12 killed in Gaza") != normalize_ticker("15 killed in Gaza")
    assert normalize_ticker("Cafe\u0301 talks") == normalize_ticker("Caf\u00e9 talks")   # NFC


@given(st.text())
def test_normalize_idempotent(text):
    assert normalize_ticker(normalize_ticker(text)) == normalize_ticker(text)


def test_distinct_items_keeps_first_text():
    items = ["Lavrov: talks are \u201cfragile\u201d", "LAVROV: talks are 'fragile'", "", "Sources: Kuleba to visit Ankara"]
    out = distinct_items(items)
    assert list(out.values()) == ["Lavrov: talks are \u201cfragile\u201d", "Sources: Kuleba to visit Ankara"]


FOOTER = "Subscribe to our newsletter to get the latest news delivered to your inbox every morning."
TICKER = "BREAKING: Ankara announces sweeping measures on grain exports"


def page(k: int) -> list[str]:
    """A generic-site page: its own article paragraphs plus the shared chrome."""
    own = [f"Paragraph {j} of story {k}: officials in city {k} discussed item {j * k} on day {k % 7}."
           for j in range(4)]
    return [TICKER.replace("BREAKING: ", "") if k % 2 else TICKER] + own + [FOOTER]


def test_boilerplate_learned_and_stripped():
    bl = BoilerplateLearner(min_pages=5, min_share=0.3, window=50)
    for k in range(4):
        bl.observe("example", page(k), page_id=f"u{k}")
    assert not bl.is_boilerplate("example", FOOTER)          # 4 pages: not enough evidence yet
    for k in range(4, 20):
        bl.observe("example", page(k), page_id=f"u{k}")
    stripped = bl.strip("example", page(20))
    assert stripped == page(20)[1:-1]                        # footer and ticker (both spellings) gone
    assert not bl.is_boilerplate("other-site", FOOTER)       # learned per site
    # Re-observing the same page id does not inflate counts.
    for _ in range(30):
        bl.observe("example", ["A correction appended to story 3."], page_id="u3")
    assert not bl.is_boilerplate("example", "A correction appended to story 3.")
    # Persistence round-trip (through real JSON).
    again = BoilerplateLearner.from_json(json.loads(json.dumps(bl.to_json())))
    assert again.strip("example", page(21)) == bl.strip("example", page(21)) == page(21)[1:-1]


def test_boilerplate_window_forgets():
    bl = BoilerplateLearner(min_pages=3, min_share=0.5, window=10)
    for k in range(10):
        bl.observe("s", ["Old footer text that the redesign removed.", f"story {k}"])
    assert bl.is_boilerplate("s", "Old footer text that the redesign removed.")
    for k in range(10, 16):
        bl.observe("s", ["New footer after the redesign.", f"story {k}"])
    assert not bl.is_boilerplate("s", "Old footer text that the redesign removed.")    # 4 of 10 < 0.5
    assert bl.is_boilerplate("s", "New footer after the redesign.") and bl.pages_seen("s") == 10


# Paragraph breaks, lone newlines, apostrophes and quotes around them, combining marks (NFC),
# case-folding expansions, Unicode spaces and labels: where a whole-body pass could differ.
_BODY_CHARS = st.sampled_from(list("\n\n\n ab'’ʼ-.,:\"“”\u0301\u0327eİßΣς\u00a0\u2028\t1") +
                              ["breaking ", "BREAKING: ", "Just in ", "developing\n", "urgent"])


@given(st.one_of(st.lists(_BODY_CHARS, max_size=80).map("".join), st.text(max_size=200)))
def test_paragraph_keys_are_the_keys_of_each_paragraph(body):
    assert paragraph_keys(body) == [normalize_ticker(p) for p in body.split("\n\n")]
