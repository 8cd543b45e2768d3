"""Generic extractor: any domain without a site extractor, and the fallback
when a site extractor finds no body. No rule names a site: everything below is
structure (tags, class/id vocabulary, text and link density, document order).

Metadata: JSON-LD (Article/NewsArticle...), then OpenGraph / meta tags, then
markup (``<h1>``, ``<time>``, byline elements); from the same parse as the body.

Body: a readability-style content score on the selectolax tree:
1. drop non-content elements (scripts, nav, footers, asides, form controls...),
   inline-hidden ones, and "unlikely candidates" whose class/id says
   nav/related/promo/share/comment... (comment/related/social... stay unlikely
   even when also named "content"), unless they wrap most of the text;
2. score every paragraph-like block (length, Latin/CJK/Arabic commas) and
   propagate the score five levels up as Readability.js does, each container
   starting from a tag prior and a class/id weight (+-25); meanwhile credit every
   ancestor with the block's prose (text less links), list items included;
3. scale by (1 - link density), pick the best container (or the ancestor of three
   near-top rivals), then widen it to the farthest ancestor whose extra text is
   mostly prose (an article cut by a figure, quote box or ad slot, or spread over
   one component per section); add siblings that score close or look like prose;
4. prepend lead paragraphs sitting between the ``<h1>`` and the chosen block;
   walk the chosen nodes in document order (iteratively: pages nest deep) and emit
   paragraphs, headings and table rows, skipping link lists and negatively-named
   widgets; trim label lines (dates, counters, "Share this:") at both ends and
   headings left hanging at the end;
5. when that finds (next to) nothing: JSON-LD ``articleBody``, else a relaxed pass
   that keeps ``<noscript>``, asides and link lists.
"""
from __future__ import annotations

import html as html_lib
import re

from selectolax.lexbor import LexborNode

from . import registry
from .base import Article, Extractor, Image
from .dates import parse_datetime
from .text import Page, dedupe, first, ld_image, ld_name, ld_people, node_text, norm, split_list, strip_by

_STRIP_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "nav", "footer",
               "aside", "button", "select", "input", "textarea", "figcaption", "object",
               "embed", "canvas", "dialog", "video", "audio", "map", "link", "meta")
# Class/id vocabulary of boilerplate (Readability.js' "unlikely candidates" and more) and of
# content. Plain substrings tested with ``in`` on the lower-cased string: a regex with this
# many alternatives and no literal prefix cost ~20 us a string, half the extractor's time.
_RELAXED_STRIP = tuple(t for t in _STRIP_TAGS if t not in ("noscript", "aside", "figcaption"))
_NEG_SUBSTR = (
    "advert", "sponsor", "promo", "banner", "breadcrumb", "combx", "comment", "community",
    "disqus", "extra", "foot", "gdpr", "cookie", "consent", "header", "masthead", "legends",
    "menu", "related", "recommend", "remark", "replies", "rss", "shoutbox", "sidebar",
    "skyscraper", "social", "share", "sharing", "newsletter", "subscri", "signup", "sign-up",
    "popup", "modal", "pagination", "pager", "paywall-prompt", "outbrain", "taboola", "widget",
    "navigation", "toolbar", "byline", "author", "caption", "credit", "timestamp", "dateline",
    "trending", "teaser", "carousel", "slideshow", "hidden", "sr-only", "jump",
    "table-of-contents", "disclaimer", "copyright", "alert", "login", "register",
    "license", "similar")
_NEG_RE = re.compile(r"-ad-|\bads?\b|\bad[-_]|\bnav|tags?\b|\btag-|read-?more|more-?stories|"
                     r"most-?(read|popular)|print-?only|screen-?reader|inline-?(story|link)|"
                     r"recirc|toc\b")
# Blocks named for these stay unlikely even when the name also says "content"/"text"
# ("relatedlinks__content", "comment-body"): a related list or thread, not the article.
_STRONG_NEG = ("comment", "related", "sharing", "social", "newsletter", "promo",
               "recommend", "breadcrumb", "disqus", "outbrain", "taboola", "noprint",
               "no-print", "metadata", "reply", "replies", "similar", "author-box",
               "authorbox", "author-bio", "about-author", "about-the-author")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_POS_SUBSTR = ("article", "body", "content", "entry", "main", "page", "post", "text", "blog",
               "story", "prose", "paragraph")


def _negative(s: str) -> bool:
    return any(w in s for w in _NEG_SUBSTR) or _NEG_RE.search(s) is not None


def _positive(s: str) -> bool:
    return any(w in s for w in _POS_SUBSTR)


_KEEP_TAGS = frozenset({"html", "body", "article", "main"})
_PARA_TAGS = frozenset({"p", "pre", "blockquote", "td", "h2", "h3", "h4", "h5", "h6", "li", "dd"})
_HEADINGS = frozenset({"h2", "h3", "h4", "h5", "h6"})
_INLINE = frozenset({"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font",
                     "i", "img", "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub",
                     "sup", "time", "u", "var", "wbr", "del", "ins", "strike", "tt", "big",
                     "-text", "br", "label"})
_TAG_PRIOR = {"div": 5, "article": 8, "section": 3, "main": 3, "pre": 3, "td": 3,
              "blockquote": 3, "form": -3, "ol": -3, "ul": -3, "dl": -3, "dd": -3, "dt": -3,
              "li": -3, "address": -3, "th": -5, "h1": -5, "h2": -5, "h3": -5, "h4": -5,
              "h5": -5, "h6": -5}
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)]?\s*$")


# class/id strings repeat heavily within and across pages: memoise the regex verdicts
# (the two searches were half the extractor's time).
_WEIGHT_CACHE: dict[str, int] = {}
_UNLIKELY_CACHE: dict[str, bool] = {}
_CACHE_MAX = 20000


def _memo(cache: dict, key: str, compute) -> object:
    v = cache.get(key)
    if v is None:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        v = cache[key] = compute(key)
    return v


def _weight_of(s: str) -> int:
    s = s.lower()
    return (-25 if _negative(s) else 0) + (25 if _positive(s) else 0)


def class_weight(node: LexborNode) -> int:
    a = node.attributes
    s = f"{a.get('class') or ''} {a.get('id') or ''}"
    if len(s) < 2:
        return 0
    return _memo(_WEIGHT_CACHE, s, _weight_of)


def _unlikely_of(s: str) -> bool:
    s = s.lower()
    if STRONG and any(w in s for w in _STRONG_NEG):
        return True
    return _negative(s) and not _positive(s)


# Switches of the steps below, module-level so a bench run can turn one off to measure it
# (0 = off): strong names stay unlikely, lead paragraphs, list items as prose, loose
# label words dropped, headings hanging at the end dropped; and sizes: label lines trimmed
# at the end / start, inline-wrapped chars that make a div a text block.
STRONG = 1
LEAD = 1
LI_PROSE = 1
TINY_DROP = 1
TRAIL_HEADS = 1
TRAIL_SHORT = 2
LEAD_SHORT = 2
INLINE_TEXT = 80
LEAD_ARTICLE = 1


def _is_unlikely(node: LexborNode) -> bool:
    if node.tag in _KEEP_TAGS:
        return False
    a = node.attributes
    s = f"{a.get('class') or ''} {a.get('id') or ''} {a.get('role') or ''}"
    if a.get("aria-hidden") == "true" or "hidden" in a:
        return True
    style = a.get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    if len(s) < 3:
        return False
    role = (a.get("role") or "").lower()
    if role in ("navigation", "complementary", "banner", "contentinfo", "menu", "dialog", "alert"):
        return True
    return _memo(_UNLIKELY_CACHE, s, _unlikely_of)


def _text_len(node: LexborNode) -> int:
    return len(node.text(deep=True, separator="", strip=False).strip())


def link_density(node: LexborNode, text_len: int | None = None) -> float:
    total = _text_len(node) if text_len is None else text_len
    if not total:
        return 0.0
    links = sum(len(a.text(deep=True, separator="", strip=False).strip()) for a in node.css("a"))
    return min(1.0, links / total)


# Inline elements whose text counts as a div's own (not links: a div of links is a menu).
_TEXT_INLINE = frozenset({"span", "b", "strong", "em", "i", "font", "u", "small", "big", "q",
                          "cite", "mark", "sub", "sup"})


def _has_direct_text(node: LexborNode) -> bool:
    """A div holding text itself: a text node over 20 chars, or INLINE_TEXT chars of text in
    text nodes and styling inlines (CMS output that wraps every run in a <span>)."""
    total = 0
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            n = len((child.text_content or "").strip())
            if n > 20:
                return True
            total += n
        elif INLINE_TEXT and tag in _TEXT_INLINE:
            total += len(child.text(deep=True, separator="", strip=True))
        if INLINE_TEXT and total >= INLINE_TEXT:
            return True
    return False


# Only elements with a class, id, role or hidden flag can be "unlikely": let the C selector
# engine pick them instead of testing every element in Python.
_NAMED_BLOCKS = ", ".join(f"{t}[{a}]" for t in ("div", "section", "span", "ul", "ol", "header", "p",
                                                "table", "form", "dl", "figure", "h2", "h3", "h4")
                          for a in ("class", "id", "role", "hidden", "aria-hidden", "style"))


def clean_tree(page: Page, relaxed: bool = False) -> LexborNode | None:
    """Remove non-content elements; return the body. ``relaxed`` (the retry when nothing
    was found) keeps ``<noscript>``/``<aside>``/captions and every named block."""
    tree = page.tree
    for tag in (_RELAXED_STRIP if relaxed else _STRIP_TAGS):       # one tag at a time: a nested match dies with its ancestor
        for n in tree.css(tag):
            n.decompose()
    body = tree.body
    if body is None:
        return None
    if relaxed:
        for br in body.css("br"):
            br.replace_with("\n")
        return body
    total = sum(len(n.text(deep=True, separator="", strip=False)) for n in body.css("p"))
    doomed = []
    seen: set[int] = set()
    for n in body.css(_NAMED_BLOCKS):
        if n.mem_id in seen:          # one match per attribute it has
            continue
        seen.add(n.mem_id)
        if not _is_unlikely(n):
            continue
        if n.tag not in ("p", "span") and (
                n.css_first('article, main, [itemprop="articleBody"]') is not None or
                (total and sum(len(p.text(deep=True, separator="", strip=False))
                               for p in n.css("p")) > 0.4 * total)):
            continue          # a wrapper of the article itself, misleadingly named
        doomed.append(n)
    # Decide first, then remove only the outermost (children die with them).
    ids = {n.mem_id for n in doomed}
    for n in doomed:
        anc = n.parent
        while anc is not None and anc.mem_id not in ids:
            anc = anc.parent
        if anc is None:
            n.decompose()
    for br in body.css("br"):
        br.replace_with("\n")
    return body


_MAX_CLIMB = 40      # ancestors credited with a block's prose (pages can nest 100k deep)


def _direct_text_len(node: LexborNode) -> int:
    n = 0
    for child in node.iter(include_text=True):
        if child.tag == "-text":
            n += len((child.text_content or "").strip())
        elif INLINE_TEXT and child.tag in _TEXT_INLINE:
            n += len(child.text(deep=True, separator="", strip=True))
    return n


def score_candidates(body: LexborNode) -> tuple[dict[int, list], dict[int, int]]:
    """({mem_id: [node, score]} for containers of paragraph-like blocks,
    {mem_id: prose chars} for every ancestor of a prose block up to the body)."""
    cands: dict[int, list] = {}
    prose: dict[int, int] = {}

    def bump(node: LexborNode, add: float) -> None:
        key = node.mem_id
        entry = cands.get(key)
        if entry is None:
            entry = cands[key] = [node, _TAG_PRIOR.get(node.tag, 0) + class_weight(node)]
        entry[1] += add

    blocks = body.css("p, pre, td, blockquote")
    blocks.extend(n for n in body.css("div") if _has_direct_text(n))
    if LI_PROSE:
        blocks.extend(body.css("li"))
    for block in blocks:
        text = block.text(deep=True, separator="", strip=False).strip()
        if len(text) < 25:
            continue
        if block.tag == "li":
            # list items of prose (not menus): mass for the climb, no Readability score
            if block.css_first("p, div, ul, ol") is not None:
                continue
            own = int(len(text) * (1 - link_density(block, len(text))))
            if own < 0.7 * len(text):
                continue
            node, level = block.parent, 0
            while node is not None and level < _MAX_CLIMB and node.tag not in ("html", "-document"):
                prose[node.mem_id] = prose.get(node.mem_id, 0) + own
                node, level = node.parent, level + 1
            continue
        # Commas of Latin, CJK and Arabic script all mark running prose.
        score = 1 + text.count(",") + text.count("，") + text.count("،") + min(len(text) // 100, 3)
        # Prose mass: the block's own text (a div: its direct text; a cell or quote holding
        # paragraphs: nothing, the paragraphs count) less its link text.
        if block.tag == "div":
            own = _direct_text_len(block)
        elif block.tag != "p" and block.css_first("p") is not None:
            own = 0
        else:
            own = len(text)
        if own:
            own = int(own * (1 - link_density(block, len(text))))
        node = block.parent
        level = 0
        # Readability.js propagation: parent full, grandparent 1/2, then 1/(3 * level), five
        # levels up, so component-per-paragraph layouts still reach the article container.
        while node is not None and level < _MAX_CLIMB and node.tag not in ("html", "-document"):
            if level < 5:
                bump(node, score if level == 0 else score / (2 if level == 1 else 3 * level))
            if own:
                prose[node.mem_id] = prose.get(node.mem_id, 0) + own
            elif level >= 5:
                break
            node = node.parent
            level += 1
    for entry in cands.values():
        entry[1] *= 1 - link_density(entry[0])
    return cands, prose


def _emit_row(row: LexborNode, out: list[str], heads: dict[int, str] | None = None) -> bool:
    """A data-table row as one line of its cells; False for a layout row (cells holding
    blocks), which is walked like any container."""
    if row.css_first("p, div, ul, ol, table") is not None:
        return False
    cells = [norm(c.text(deep=True, separator=" ", strip=False)) for c in row.iter()
             if c.tag in ("td", "th")]
    line = " ".join(c for c in cells if c)
    if line and link_density(row, len(line)) <= 0.5:
        out.append(line)
        if heads is not None:
            heads[len(out) - 1] = "row"     # data: exempt from the label trimming
    return True


def _emit_block(child: LexborNode, tag: str, out: list[str], lenient: bool,
                heads: dict[int, str] | None = None) -> None:
    """A paragraph-like leaf block: its text, unless it is a link list item or label."""
    text = child.text(deep=True, separator="", strip=False)
    t = norm(text)
    if not t:
        return
    if not lenient:
        if tag in ("li", "td", "dd"):
            # short items of a list without links (ingredients, facts) are content
            ld = link_density(child, len(t))
            if ld > 0.5 or (len(t) < SHORT_ITEM and ld > 0):
                return
        elif tag in _HEADINGS:
            if link_density(child, len(t)) > 0.5:
                return
        elif link_density(child, len(t)) > 0.7 and len(t) < 200:
            return
    for part in text.split("\n\n"):
        p = norm(part)
        if p:
            out.append(p)
    if heads is not None and tag in _HEADINGS:
        heads[len(out) - 1] = "h"


_WRAPPERS = frozenset({"div", "section", "article", "main"})


def _bare_wrapper(node: LexborNode) -> bool:
    elements = 0
    for c in node.iter(include_text=True):
        if c.tag == "-text":
            if (c.text_content or "").strip():
                return False
        elif not c.tag.startswith("-"):
            elements += 1
            if elements > 1 or c.tag not in _WRAPPERS:
                return False
    return elements == 1 and class_weight(node) >= 0


def _skip_container(child: LexborNode, tag: str) -> bool:
    """Link lists and small negatively-named widgets inside the article."""
    tl = _text_len(child)
    if not tl:
        return True
    ld = link_density(child, tl)
    if ld > 0.5 or (tag in ("ul", "ol", "table", "dl") and ld > 0.33):
        return True
    return class_weight(child) < 0 and tl < 300


def _emit(node: LexborNode, out: list[str], lenient: bool = False,
          heads: dict[int, str] | None = None) -> None:
    """Append paragraphs of ``node`` in document order. Iterative (an explicit stack of
    child iterators): pages can nest far deeper than Python's recursion limit.
    ``lenient`` keeps link-heavy blocks too (the retry when nothing was found)."""
    buf: list[str] = []

    def flush() -> None:
        if buf:
            for part in "".join(buf).split("\n\n"):
                t = norm(part)
                # loose words between blocks ("Advert", "NEXT", "comments") are labels
                if t and (not TINY_DROP or not _LABEL.fullmatch(t)):
                    out.append(t)
            buf.clear()

    stack = [node.iter(include_text=True)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            flush()
            continue
        tag = child.tag
        if tag == "-text":
            buf.append(child.text_content or "")
            continue
        if tag in _INLINE:
            buf.append(child.text(deep=True, separator="", strip=False))
            continue
        if tag.startswith("-"):       # a comment splits no paragraph
            continue
        flush()
        if tag == "h1":
            continue
        if tag == "tr" and _emit_row(child, out, heads):
            continue
        if tag in _PARA_TAGS and not child.css_first("p, div, ul, ol, table"):
            _emit_block(child, tag, out, lenient, heads)
            continue
        # A bare wrapper (one element child, no text of its own) is judged by what it wraps:
        # measuring every level of a deep chain of wrappers would be quadratic.
        if lenient or _bare_wrapper(child) or not _skip_container(child, tag):
            stack.append(child.iter(include_text=True))


def _common_ancestor(top: LexborNode, rivals: list[LexborNode]) -> LexborNode:
    """When three or more near-top candidates share an ancestor of the top one, the article
    is split over sibling blocks (one component per paragraph): take that ancestor."""
    def contains(outer: LexborNode, inner: LexborNode) -> bool:
        anc = inner.parent
        while anc is not None and anc.mem_id != outer.mem_id:
            anc = anc.parent
        return anc is not None

    # Nested wrappers of one block score alike: count each block once (its innermost node),
    # and ignore rivals that wrap or sit inside the top candidate.
    rivals = [r for r in rivals if not contains(r, top) and not contains(top, r)]
    rivals = [r for r in rivals if not any(o is not r and contains(r, o) for o in rivals)]
    if len(rivals) < 3:      # Readability.js: three alternative candidates
        return top
    node = top.parent
    while node is not None and node.tag not in ("body", "html"):
        if sum(contains(node, r) for r in rivals) >= 3:
            return node
        node = node.parent
    return top


CLIMB_RATIO = 0.7


def _climb_prose(node: LexborNode, prose: dict[int, int], all_prose: int) -> LexborNode:
    """Widen the chosen block to its farthest ancestor whose extra text (over the block's)
    is mostly prose: an article split by a figure, quote box or ad slot into sibling
    blocks, or spread over one component per section, is whole some levels up. Measured
    from the block, not step by step, so a heading level in between does not stop it."""
    good, total = prose.get(node.mem_id, 0), _text_len(node)
    best = node
    anc = node.parent
    for _ in range(_MAX_CLIMB):
        if anc is None or anc.tag in ("body", "html"):
            break
        added_good, added_total = prose.get(anc.mem_id, 0) - good, _text_len(anc) - total
        if added_total <= 0 or (added_good > 0 and added_good >= CLIMB_RATIO * added_total):
            best = anc
        if prose.get(anc.mem_id, 0) >= all_prose:
            break             # no prose left outside: higher ancestors only add other text
        anc = anc.parent
    return best


SHORT_ITEM = 20     # chars: a list item this short counts only when it has no link
LEAD_MIN = 40       # chars of a lead paragraph above the body
SHORT_BODY = 200    # chars: below this the first pass probably missed the article
_LABEL = re.compile(r"[^\W\d_]+(?:[ -][^\W\d_]+)?:?")   # one or two bare words


def extract_body(page: Page, relaxed: bool = False) -> list[str]:
    body = clean_tree(page, relaxed)
    if body is None:
        return []
    cands, prose = score_candidates(body)
    if not cands:
        out: list[str] = []
        _emit(body, out, relaxed)
        return out
    ranked = sorted(cands.values(), key=lambda e: -e[1])
    top_node, top_score = ranked[0]
    top_node = _common_ancestor(top_node, [n for n, sc in ranked[1:6] if sc >= top_score * 0.75])
    top_score = cands[top_node.mem_id][1] if top_node.mem_id in cands else top_score
    # Readability: if the top candidate is one of several similar siblings
    # under one parent, climb while the parent scores comparably.
    parent = top_node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        entry = cands.get(parent.mem_id)
        if entry is None or entry[1] < top_score * 0.75:
            break
        top_node, top_score = parent, max(top_score, entry[1])
        parent = top_node.parent
    top_node = _climb_prose(top_node, prose, prose.get(body.mem_id, 0))
    chosen: list[LexborNode] = []
    parent = top_node.parent
    if parent is None or top_node.tag in ("body", "html"):
        chosen = [top_node]
    else:
        threshold = max(10.0, top_score * 0.2)
        top_cls = top_node.attributes.get("class")
        for sib in parent.iter():
            if sib.mem_id == top_node.mem_id:
                chosen.append(sib)
                continue
            entry = cands.get(sib.mem_id)
            bonus = top_score * 0.2 if top_cls and sib.attributes.get("class") == top_cls else 0
            if entry is not None and entry[1] + bonus >= threshold:
                chosen.append(sib)
            elif sib.tag == "p":
                t = node_text(sib)
                ld = link_density(sib, len(t))
                if (len(t) > 80 and ld < 0.25) or (0 < len(t) <= 80 and ld == 0
                                                   and _SENTENCE_END.search(t)):
                    chosen.append(sib)
    out: list[str] = _lead(body, chosen[0]) if LEAD else []
    heads: dict[int, str] = {}    # out index -> "h" (heading) or "row" (table row)
    for node in chosen:
        if node.tag in _PARA_TAGS:
            t = node_text(node)
            if t:
                out.append(t)
        else:
            _emit(node, out, relaxed, heads)
    return _trim(out, heads)


def _lead(body: LexborNode, first: LexborNode) -> list[str]:
    """Standfirst / lead paragraphs between the headline (``<h1>``) and the chosen block
    when both sit in one article container below the body: article headers keep the
    lead apart from the body text."""
    h1 = body.css_first("h1")
    if h1 is None and LEAD_ARTICLE:
        # No page headline left (it sat in a breadcrumb or header that was dropped): the
        # first heading of the <article> holding the chosen block stands in for it.
        art, n = first.parent, 0
        while art is not None and art.tag != "article" and n < _MAX_CLIMB:
            art, n = art.parent, n + 1
        h1 = art.css_first("h1, h2") if art is not None and art.tag == "article" else None
    if h1 is None:
        return []
    h1_anc = set()
    node, n = h1, 0
    while node is not None and n < _MAX_CLIMB * 2:
        h1_anc.add(node.mem_id)
        node, n = node.parent, n + 1
    lca, n = first, 0
    while lca is not None and lca.mem_id not in h1_anc and n < _MAX_CLIMB * 2:
        lca, n = lca.parent, n + 1
    if lca is None or lca.tag in ("body", "html") or lca.mem_id not in h1_anc \
            or lca.mem_id in (first.mem_id, h1.mem_id):
        return []
    out: list[str] = []
    seen_h1 = False
    for el in lca.traverse():
        if el.mem_id == first.mem_id:
            return out if seen_h1 else []
        if el.mem_id == h1.mem_id:
            seen_h1 = True
        elif seen_h1 and el.tag == "p":
            t = node_text(el)
            if len(t) >= LEAD_MIN and link_density(el, len(t)) < 0.3:
                out.append(t)
    return []


def _trim(out: list[str], heads: dict[int, str]) -> list[str]:
    """Label lines at the ends of the emitted text (``heads``: index -> "h" heading or
    "row" table row, both exempt from the short-line rules)."""
    # A heading that ends the text introduced a block that was left out (related links,
    # a comment form): it is not part of the article either.
    while TRAIL_HEADS and out and heads.get(len(out) - 1) == "h":
        out.pop()
    # Dates, counters and labels opening the block ("21:17 18.11.2019", "Von:"): very short,
    # not a heading, not a sentence.
    for _ in range(int(LEAD_SHORT)):
        if len(out) > 1 and 0 not in heads and len(out[0].split()) <= 4 \
                and not out[0].endswith((".", "!", "?")):
            out.pop(0)
            heads = {i - 1: k for i, k in heads.items() if i}
        else:
            break
    # Calls to action closing the block ("Share this article:", "Was this useful?"): short,
    # and not a sentence ending in a full stop.
    for _ in range(int(TRAIL_SHORT)):
        if len(out) > 1 and len(out[-1].split()) <= 8 and len(out) - 1 not in heads \
                and not out[-1].endswith((".", ")", "”", '"')):
            out.pop()
        else:
            break
    return out


def _ld_body(ld: dict) -> list[str]:
    text = ld.get("articleBody")
    if not isinstance(text, str):
        return []
    return [p for p in (norm(x) for x in text.split("\n")) if p]


def body_with_fallbacks(page: Page, html: str, ld: dict, quality: list[str]) -> list[str]:
    """The main pass; when it finds (next to) nothing, the JSON-LD ``articleBody``, else a
    relaxed pass on a fresh parse (noscript/aside kept, link lists kept)."""
    paras = extract_body(page)   # mutates the tree: metadata first
    size = sum(map(len, paras))
    if size >= SHORT_BODY:
        return paras
    from_ld = _ld_body(ld)
    if sum(map(len, from_ld)) > max(size, SHORT_BODY // 2):
        quality.append("body:json-ld")
        return from_ld
    relaxed = extract_body(Page(html, page.url), relaxed=True)
    if sum(map(len, relaxed)) > 2 * size + 50:
        quality.append("body:relaxed")
        return relaxed
    return paras


def pick_title(page: Page, ld: dict) -> tuple[str | None, bool]:
    """(title, from markup): JSON-LD headline (entities decoded: some CMSs escape twice),
    og/twitter title, first ``<h1>``, ``<title>``."""
    head = ld.get("headline")
    head = html_lib.unescape(norm(head)) if isinstance(head, str) else ""
    if head:
        return head, False
    og = page.meta_first("og:title", "twitter:title")
    if og:
        return og, False
    h1 = node_text(page.tree.css_first("h1"))
    tnode = page.tree.css_first("title")
    title = h1 or (norm(tnode.text()) if tnode is not None else "")
    return title or None, bool(title)


def clean_authors(authors: list[str], page: Page, ld: dict) -> list[str]:
    """Drop list glue ("and Tom Watkins") and the publisher listed beside the people who
    wrote the piece ("Jane Doe, Example News"); a publisher alone is the author."""
    pub = ld.get("publisher")
    names = {n.casefold() for n in (ld_name(pub) if pub else None, page.meta.get("og:site_name"))
             if n}
    out = []
    for a in authors:
        a = html_lib.unescape(re.sub(r"^(?:and|&)\s+", "", a, flags=re.I)).strip()
        if a:
            out.append(a)
    people = [a for a in out if a.casefold() not in names]
    return dedupe(people or out)


class GenericExtractor(Extractor):
    name = "generic"
    domains = ()
    version = "3"

    def is_article_url(self, url: str) -> bool:
        from urllib.parse import urlsplit
        path = urlsplit(url).path.rstrip("/")
        segs = [s for s in path.split("/") if s]
        if not segs:
            return False
        last = segs[-1]
        return bool(re.search(r"\d{4}[/-]\d{2}|\d{6,}", path) or
                    (last.count("-") >= 3 and len(last) > 20) or last.endswith((".html", ".htm")))

    def parse(self, html: str, url: str) -> Article:
        page = Page(html, url)
        meta = page.meta
        quality: list[str] = []
        ld = page.ld_article() or {}
        if ld:
            quality.append("meta:json-ld")
        used_og = False
        used_markup = False

        title, from_markup = pick_title(page, ld)
        used_og = used_og or (bool(title) and not from_markup and not ld.get("headline"))
        used_markup = used_markup or from_markup

        authors = ld_people(ld.get("author"))
        if not authors:
            a = page.meta_first("author", "article:author", "og:article:author", "dc.creator",
                                "parsely-author", "sailthru.author", "byl")
            if a and not a.startswith("http"):
                authors = split_list(strip_by(a), ",;")
                used_og = True
        if not authors:
            n = page.tree.css_first('[rel="author"], [itemprop="author"] [itemprop="name"], '
                                    '[itemprop="author"], .byline__name, .author-name, .byline')
            a = strip_by(node_text(n)) if n is not None else ""
            if a and len(a) < 100:
                authors = [a]
                used_markup = True
        authors = clean_authors(authors, page, ld)

        published = parse_datetime(ld.get("datePublished") or ld.get("dateCreated"))
        modified = parse_datetime(ld.get("dateModified"))
        if published is None:
            published = first(*(parse_datetime(meta.get(k)) for k in (
                "article:published_time", "og:article:published_time", "datepublished",
                "pubdate", "publishdate", "date", "dc.date", "dc.date.issued",
                "sailthru.date", "parsely-pub-date", "article.published")))
            used_og = used_og or published is not None
        if modified is None:
            modified = first(*(parse_datetime(meta.get(k)) for k in (
                "article:modified_time", "og:article:modified_time", "og:updated_time",
                "datemodified", "last-modified")))
        if published is None:
            t = page.tree.css_first("time[datetime]")
            if t is not None:
                published = parse_datetime(t.attributes.get("datetime"))
                used_markup = used_markup or published is not None

        summary = first(norm(ld.get("description")) or None,
                        page.meta_first("og:description", "description", "twitter:description"))
        section = first(ld_name(ld.get("articleSection")),
                        page.meta_first("article:section", "og:article:section"))
        tags = _tags(page, ld, meta)
        img = first(ld_image(ld.get("image")), page.meta_first("og:image", "twitter:image"))
        images = [Image(page.abs(img))] if img else []
        canonical = page.canonical()
        language = page.lang()

        paras = body_with_fallbacks(page, html, ld, quality)
        if used_og:
            quality.append("meta:og")
        if used_markup:
            quality.append("meta:markup")
        article = Article(
            url=canonical, site=_host(url), title=title, summary=summary, authors=authors,
            published_at=published, modified_at=modified, section=section, tags=tags,
            language=language, body="\n\n".join(paras), images=images,
            extractor=self.name, extractor_version=self.version, quality=quality,
        )
        for field, value in (("title", title), ("date", published), ("body", article.body),
                             ("authors", authors)):
            if not value:
                quality.append(f"missing:{field}")
        return article


def _tags(page: Page, ld: dict, meta: dict) -> list[str]:
    """Keywords: JSON-LD first, then article:tag, then the keywords meta tags."""
    kw = ld.get("keywords")
    if isinstance(kw, list):
        tags = dedupe(norm(k) for k in kw if isinstance(k, str) and norm(k))
    else:
        tags = split_list(kw if isinstance(kw, str) else None, ",")
    if not tags:
        tags = dedupe(norm(n.attributes.get("content")) for n in
                      page.tree.css('meta[property="article:tag"]') if n.attributes.get("content"))
    if not tags:
        tags = split_list(meta.get("news_keywords") or meta.get("keywords"), ",")
    return tags


def _host(url: str) -> str:
    from urllib.parse import urlsplit
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


registry.register(GenericExtractor())
