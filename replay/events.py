"""Known cross-source stories of the replay corpus ("events"), knob-free and deterministic.

Event ``e`` is anchored at corpus index ``a = 10 * e + 8`` (a residue no page variant
uses, so story articles are plain articles and the golden pages, all at lower indices,
are untouched). It is covered by Al Mayadeen article ``a`` and Reuters article ``a``; every
third event also by a follow-up at index ``a + 1`` on one of the sites. The members share
the event's names (two people, two places, an organisation, a topic) but are written from
different template sets (titles and bodies), and their publication times are pulled
together (see ``Corpus.timestamp``) so they lie within 3 days of each other whenever a
corpus slot is at most ~50 days (``per_site >= 60``). The two seed articles (same real
event, 2022-03-07 / 2022-03-10) form the story ``"seed"``.
"""
from __future__ import annotations

from . import textgen as tg

ANCHOR_RESIDUE = 8
EVENT_KEYS = len(tg.PLACES) * len(tg.TOPICS) * len(tg.PEOPLE)   # (place, topic, person) per event

# Titles start with the names that make an event unique, so 80-character slugs never collide.
TITLES = {
    "almayadeen": ["{place} {t0} {t1}: {person} arrives for talks with {person2}",
                   "{place} {t0} {t1} meeting: {person} and {person2} arrive for first round"],
    "reuters": ["{person} to meet {person2} in {place} over {t0} {t1}, officials say",
                "{person} heads to {place} for {t0} {t1} talks with {person2}"],
}
FOLLOW_TITLES = {
    "almayadeen": ["{place} {t0} {t1}: {person} and {person2} end talks without breakthrough"],
    "reuters": ["{person} says {place} talks on {t0} {t1} with {person2} were {adj}"],
}
BODY = {
    "almayadeen": [
        "{person} arrived in {place} {when} for talks on the {t0} {t1}, Al Mayadeen's correspondent reported.",
        "The meeting with {person2} marks the first high-level contact on the {t0} {t1} since the crisis began.",
        "{org_c} welcomed the talks in {place} and called on both delegations to show restraint.",
        "Sources told Al Mayadeen that {person2} would present a {days}-point proposal on the {t0} {t1}.",
        "Delegations had met in {place2} on several occasions, but {place} is the first venue to bring "
        "{person} and {person2} to the same table.",
        "Observers warned that without a deal the {t0} {t1} could drag on for months.",
        "Residents of {place2} followed the news from {place} with cautious hope.",
    ],
    "reuters": [
        "{person} and {person2} agreed to meet in {place} {when}, in what would be the first direct talks "
        "on the {t0} {t1}.",
        "{org_c}, which has offered to mediate, confirmed that both delegations would travel to {place}.",
        "A diplomatic source in {place2} said the agenda would focus on the {t0} {t1} and on guarantees "
        "sought by {person2}.",
        "{person} told reporters the {place} meeting could be a turning point but cautioned against "
        "expecting a quick breakthrough.",
        "Markets in {place2} rose {pct}% after the meeting was announced.",
        "Officials declined to say how long {person2} would stay in {place}.",
        "The {t0} {t1} has displaced about {n:,} {unit}, according to {org} estimates.",
    ],
    "follow": [
        "The talks in {place} between {person} and {person2} ended after {days} hours without agreement "
        "on the {t0} {t1}.",
        "{person2} said the meeting in {place} had been {adj} and that the delegations would meet again.",
        "{org_c} urged {person} to keep the channel open despite the lack of progress.",
        "Both sides said the {t0} {t1} would top the agenda of the next round, possibly in {place2}.",
    ],
}


def anchor_of(site: str, i: int) -> tuple[int, str] | None:
    """``(anchor index, "lead" | "follow")`` when article ``i`` of ``site`` would cover an event
    (before the corpus checks seeds and the recent tail)."""
    if i % 10 == ANCHOR_RESIDUE:
        return i, "lead"
    a = i - 1
    if a % 10 == ANCHOR_RESIDUE and a % 30 == ANCHOR_RESIDUE and follow_site(a) == site:
        return a, "follow"
    return None


def follow_site(anchor: int) -> str:
    return "almayadeen" if (anchor // 30) % 2 == 0 else "reuters"


def members(anchor: int) -> list[tuple[str, int]]:
    out = [("almayadeen", anchor), ("reuters", anchor)]
    if anchor % 30 == ANCHOR_RESIDUE:
        out.append((follow_site(anchor), anchor + 1))
    return out


def event_key(anchor: int, perm: tuple[int, int], h: int) -> dict:
    """The event's names: (place, topic, person) one-to-one with the event number via the
    affine permutation ``perm``; the rest from the hash ``h`` (shared by all members)."""
    a, b = perm
    k = (a * (anchor // 10) + b) % EVENT_KEYS
    k, place = divmod(k, len(tg.PLACES))
    k, topic = divmod(k, len(tg.TOPICS))
    person = k % len(tg.PEOPLE)
    t0, t1 = tg.TOPICS[topic]
    p2 = (person + 1 + h % (len(tg.PEOPLE) - 1)) % len(tg.PEOPLE)
    pl2 = (place + 1 + (h >> 8) % (len(tg.PLACES) - 1)) % len(tg.PLACES)
    org = tg.ORGS[(h >> 16) % len(tg.ORGS)]
    return {"place": tg.PLACES[place], "person": tg.PEOPLE[person], "t0": t0, "t1": t1,
            "person2": tg.PEOPLE[p2], "place2": tg.PLACES[pl2], "org": org, "org_c": org[0].upper() + org[1:],
            "adj": tg.ADJ[(h >> 24) % len(tg.ADJ)], "when": tg.WHEN[(h >> 32) % len(tg.WHEN)],
            "verb": tg.VERBS_HEAD[(h >> 40) % len(tg.VERBS_HEAD)]}


def title(site: str, role: str, key: dict, h: int) -> str:
    forms = (TITLES if role == "lead" else FOLLOW_TITLES)[site]
    t = forms[h % len(forms)].format(**key)
    return t[0].upper() + t[1:]


def body(rng, site: str, role: str, key: dict) -> list[str]:
    """4-7 paragraphs of 1-2 sentences from the site's (or the follow-up's) own templates."""
    pool = BODY[site if role == "lead" else "follow"][:]
    rng.shuffle(pool)
    n = min(len(pool), rng.randint(4, 7))
    paras, k = [], 0
    while k < len(pool) and len(paras) < n:
        spare = len(pool) - k - (n - len(paras))       # sentences beyond one per remaining paragraph
        take = 2 if spare > 0 and rng.random() < 0.5 else 1
        paras.append(" ".join(tg.fill(t, key, rng) for t in pool[k:k + take]))
        k += take
    return paras
