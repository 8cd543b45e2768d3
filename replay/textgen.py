"""Word pools and a small sentence generator for the synthetic corpus.

Every article draws its own cast (people, places, organisations, a topic) and
fills sentence templates with it, so two generated articles share little text
beyond function words: dedup tests must not find near-duplicates by accident.
Pools include non-ASCII names (Turkish, Arabic transliterations, Slavic,
Spanish, Vietnamese) because author/entity handling must survive them.
"""
from __future__ import annotations

import random

# Author pools: agency-style bylines, Latin-script names with diacritics, Arabic names.
AUTHORS_AM = [
    "Al Mayadeen Net", "Al Mayadeen English", "Zeinab el-Hajj", "Hussein Assaf", "Mohammad Salami",
    "Rasha Reslan", "Ali Jezzini", "Lea Akil", "Mahdi Aghaei", "Nour Ramadan", "Hiba Morad",
    "Karim Saadé", "Yara Haddad", "Tarek Abdel-Aziz", "Ghadir Fawaz",
]
AUTHORS_RT = [
    "Jonathan Spicer", "Ece Toksabay", "Tuvan Gumrukcu", "Gopal Sharma", "Maria Tsvetkova",
    "Humeyra Pamuk", "Orhan Coşkun", "Hüseyin Hayatsever", "Can Sezer", "Daren Butler",
    "Pavel Polityuk", "Olena Harmash", "Tomasz Janowski", "Dmitry Antonov", "Lidia Kelly",
    "Andrea Shalal", "Mark Heinrich", "Nguyễn Thị Phương", "José Luis González", "Ñusta Quispe",
    "Søren Jeppesen", "Björn Ström", "Aziz El Yaakoubi", "Maha El Dahan", "Parisa Hafezi",
]
EDITORS = ["Mark Heinrich", "Alex Richardson", "Jonathan Spicer", "Frances Kerry", "William Maclean",
           "Nick Macfie", "Toby Chopra", "Gareth Jones", "Angus MacSwan", "Timothy Heritage"]

PEOPLE = [
    "Recep Tayyip Erdoğan", "Mevlüt Çavuşoğlu", "Hakan Fidan", "Sergey Lavrov", "Dmytro Kuleba",
    "Volodymyr Zelenskiy", "Vladimir Putin", "Antony Blinken", "Josep Borrell", "Emmanuel Macron",
    "Olaf Scholz", "Ursula von der Leyen", "António Guterres", "Rafael Grossi", "Abbas Araghchi",
    "Najib Mikati", "Nabih Berri", "Mohammed bin Salman", "Abdel Fattah al-Sisi", "Bashar al-Assad",
    "Narendra Modi", "Xi Jinping", "Wang Yi", "Luiz Inácio Lula da Silva", "Andrés Manuel López Obrador",
    "Pedro Sánchez", "Giorgia Meloni", "Viktor Orbán", "Aleksandar Vučić", "Kassym-Jomart Tokayev",
    "Ilham Aliyev", "Nikol Pashinyan", "Cyril Ramaphosa", "Bola Tinubu", "Jacinda Ardern",
    "Shehbaz Sharif", "Ebrahim Raisi", "Masoud Pezeshkian", "Nguyễn Phú Trọng", "Gustavo Petro",
]
PLACES = [
    "Ankara", "Istanbul", "Antalya", "Moscow", "Kyiv", "Kharkiv", "Odesa", "Beirut", "Damascus",
    "Baghdad", "Tehran", "Cairo", "Amman", "Riyadh", "Doha", "Gaza", "Ramallah", "Sanaa", "Brussels",
    "Geneva", "Vienna", "Paris", "Berlin", "Warsaw", "Budapest", "Belgrade", "Baku", "Yerevan",
    "Beijing", "New Delhi", "Islamabad", "Kathmandu", "Jakarta", "Hanoi", "Nairobi", "Abuja",
    "Johannesburg", "Brasília", "Bogotá", "Mexico City", "Caracas", "Havana", "Washington", "Ottawa",
    "Tbilisi", "Minsk", "Almaty", "Tunis", "Algiers", "Rabat", "Khartoum", "Tripoli",
]
ORGS = [
    "the United Nations", "NATO", "the European Union", "the IAEA", "the World Bank", "the IMF",
    "OPEC+", "the Arab League", "the African Union", "the Red Cross", "the WHO", "UNRWA",
    "the Security Council", "the G20", "BRICS", "the Central Bank", "the finance ministry",
    "the foreign ministry", "the defence ministry", "parliament", "the electoral commission",
    "the energy regulator", "the state oil company", "the port authority", "Amnesty International",
]
TOPICS = [
    ("ceasefire", "talks"), ("grain", "exports"), ("gas", "pipeline"), ("sanctions", "package"),
    ("refugee", "crisis"), ("election", "results"), ("inflation", "figures"), ("budget", "deficit"),
    ("wheat", "prices"), ("drone", "strikes"), ("nuclear", "deal"), ("power", "outages"),
    ("currency", "crisis"), ("fuel", "shortages"), ("prisoner", "exchange"), ("border", "dispute"),
    ("trade", "agreement"), ("debt", "restructuring"), ("water", "rights"), ("heat", "wave"),
    ("earthquake", "relief"), ("rail", "project"), ("airline", "strike"), ("vaccine", "rollout"),
    ("oil", "output"), ("shipping", "routes"), ("minimum", "wage"), ("bank", "merger"),
    ("port", "blockade"), ("labour", "reform"), ("flood", "damage"), ("corruption", "probe"),
]
VERBS_HEAD = [
    "agree on", "reject", "warn over", "push for", "hold talks on", "sign deal on", "condemn",
    "weigh", "delay", "back", "slam", "announce", "review", "extend", "suspend", "resume",
]
SAY = ["said", "told reporters", "said in a statement", "wrote on X", "told a news conference",
       "said on Tuesday", "said late on Monday", "told state television", "said in an interview"]
WHEN = ["on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "over the weekend",
        "earlier this week", "last month", "in recent days", "late on Sunday"]
ADJ = ["fragile", "long-awaited", "controversial", "landmark", "stalled", "costly", "sweeping",
       "tentative", "unprecedented", "renewed", "limited", "contested", "urgent", "modest"]
NUM_UNITS = ["people", "families", "tonnes", "barrels a day", "megawatts", "jobs", "homes",
             "schools", "vehicles", "containers", "flights", "displaced residents"]

SENTENCES = [
    "{person} {say} {when} that the {adj} {t0} {t1} would {verb} {place}.",
    "Officials in {place} {say} the {t0} {t1} had affected about {n:,} {unit}.",
    "{org_c} called for {adj} measures, warning that the {t0} {t1} could spread beyond {place2}.",
    "The move comes after weeks of {adj} negotiations between {place} and {place2}.",
    "“We will not accept any {adj} solution imposed from outside,” {person} {say}.",
    "According to {org}, at least {n:,} {unit} were affected in {place2} {when}.",
    "{person2}, who visited {place} {when}, described the situation as “{adj}”.",
    "Analysts said the {t0} {t1} was likely to weigh on relations with {org}.",
    "The decision by {org} drew criticism from {person2} and several lawmakers in {place2}.",
    "A spokesperson for {org} declined to comment on the {t0} {t1}.",
    "Talks in {place} are expected to resume {when}, two sources familiar with the matter said.",
    "{person} has repeatedly said that {place} would not bow to pressure over the {t0} {t1}.",
    "Figures published by {org} showed a rise of {pct} percent compared with a year earlier.",
    "Residents of {place2} said they had waited {days} days for news about the {t0} {t1}.",
    "The {adj} plan, first floated by {person2}, would cost an estimated ${bn} billion.",
    "{org_c} said it would send a delegation to {place} to assess the {t0} {t1}.",
    "Critics in {place} argue that the {t0} {t1} has been mishandled from the start.",
    "It was not immediately clear whether {person2} would attend the meeting in {place2}.",
    "Diplomats in {place2} said privately that {person} had little room to manoeuvre.",
    "The {t0} {t1} dominated front pages in {place} {when}, with several papers calling it {adj}.",
    "{org_c} estimated that {n:,} {unit} would need support before the end of the year.",
    "Security was tightened around government buildings in {place} ahead of the vote.",
    "Speaking in {place2}, {person2} said the {t0} {t1} showed the limits of outside pressure.",
    "Opposition figures in {place} accused the government of hiding the true cost of the {t0} {t1}.",
    "Trading in {place} was briefly suspended {when} as investors reacted to the news.",
    "A joint statement issued in {place2} made no mention of the {t0} {t1}.",
]
SUBHEADS = ["Regional reactions", "What comes next", "Background", "Economic fallout",
            "Diplomatic push", "Humanitarian concerns", "A divided response", "Market impact",
            "Mediation efforts", "Legal questions"]
RELATED_HEADS = [
    "{person} meets {place} envoy amid {t0} {t1} row", "{org_c} warns of {adj} {t0} {t1}",
    "{place} and {place2} {verb} {t0} {t1}", "Protests in {place} over {t0} {t1}",
]
TICKER = [
    "{person}: {place} will respond to any {adj} move over the {t0} {t1}",
    "{org_c} {verb} the {t0} {t1} in {place}",
    "Al Mayadeen's correspondent in {place}: {days} killed in {adj} strikes on {place2}",
    "{person}: talks with {place2} on the {t0} {t1} are {adj}",
    "{place} announces {adj} measures on {t0} {t1}",
    "Sources: {person2} to visit {place} {when}",
]
CAPTIONS = ["{person} speaks during a news conference in {place}.",
            "People gather in {place} as officials discuss the {t0} {t1}.",
            "A view of {place2} {when} (AP)", "{person2} arrives for talks in {place}."]


def cast(rng: random.Random, key: dict | None = None) -> dict:
    """The named entities one article talks about (drawn once, reused by all its sentences).
    ``key`` (from `title_key`) fixes the headline entities; the rest is drawn from ``rng``."""
    t0, t1 = rng.choice(TOPICS)
    org = rng.choice(ORGS)
    p1, p2 = rng.sample(PEOPLE, 2)
    pl1, pl2 = rng.sample(PLACES, 2)
    c = {"person": p1, "person2": p2, "place": pl1, "place2": pl2, "org": org,
         "org_c": org[0].upper() + org[1:], "t0": t0, "t1": t1, "adj": rng.choice(ADJ),
         "verb": rng.choice(VERBS_HEAD), "when": rng.choice(WHEN), "say": rng.choice(SAY)}
    if key:
        c.update(key)
        if c["person2"] == c["person"]:
            c["person2"] = PEOPLE[(PEOPLE.index(c["person"]) + 1) % len(PEOPLE)]
        if c["place2"] == c["place"]:
            c["place2"] = PLACES[(PLACES.index(c["place"]) + 1) % len(PLACES)]
    return c


def fill(template: str, c: dict, rng: random.Random) -> str:
    # Per-sentence variation (numbers, adjective, timing) on top of the article's cast.
    return template.format(**{**c, "adj": rng.choice(ADJ), "when": rng.choice(WHEN), "say": rng.choice(SAY),
                              "n": rng.randint(3, 250_000), "unit": rng.choice(NUM_UNITS),
                              "pct": rng.randint(2, 48), "days": rng.randint(2, 40), "bn": rng.randint(1, 90)})


# Title forms all contain the four components (place, verb, topic, person) that
# `title_key` assigns one-to-one to article indices, so titles (and slugs) never collide.
TITLE_FORMS = [
    "{place} to {verb} {t0} {t1}, {person} says",
    "{place} will {verb} {t0} {t1}, says {person}",
    "{place} set to {verb} {adj} {t0} {t1} as {person} visits",
    "Exclusive: {place} to {verb} {t0} {t1} after {person} talks",
    "{place} moves to {verb} {t0} {t1}; {person} warns of delay",
    "Why {place} may {verb} {t0} {t1} despite {person}",
]
TITLE_CAPACITY = len(PLACES) * len(VERBS_HEAD) * len(TOPICS) * len(PEOPLE)


def title_key(k: int) -> dict:
    """Mixed-radix decoding of k in [0, TITLE_CAPACITY): a distinct component tuple per k."""
    k, place = divmod(k, len(PLACES))
    k, verb = divmod(k, len(VERBS_HEAD))
    k, topic = divmod(k, len(TOPICS))
    t0, t1 = TOPICS[topic]
    return {"place": PLACES[place], "verb": VERBS_HEAD[verb], "t0": t0, "t1": t1, "person": PEOPLE[k % len(PEOPLE)]}


def title(form: int, c: dict) -> str:
    t = TITLE_FORMS[form % len(TITLE_FORMS)].format(**c)
    return t[0].upper() + t[1:]


class Deck:
    """Sentence templates dealt without replacement (reshuffled when exhausted), so an
    article does not repeat itself."""

    def __init__(self, rng: random.Random):
        self.rng, self.cards = rng, []

    def draw(self) -> str:
        if not self.cards:
            self.cards = SENTENCES[:]
            self.rng.shuffle(self.cards)
        return self.cards.pop()


def paragraph(rng: random.Random, c: dict, deck: Deck) -> str:
    return " ".join(fill(deck.draw(), c, rng) for _ in range(rng.randint(1, 3)))
