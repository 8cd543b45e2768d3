"""Helpers to score the archive against the replay's ground truth (tests and benchmarks)."""
from __future__ import annotations


def copy_root(truths: dict[str, dict], url: str) -> str:
    """The original of a cluster of copies: follow duplicate_of / syndicated_from links
    (a second-URL copy of a syndicated copy leads to the syndicated article's source)."""
    for _ in range(5):
        t = truths.get(url, {})
        parent = t.get("duplicate_of") or t.get("syndicated_from")
        if not parent or parent == url:
            return url
        url = parent
    return url


def near_dup_scores(truths: dict[str, dict], predicted: list[tuple[str, str]]) -> tuple[float, float, int]:
    """(precision, recall, expected links): a link copy -> original is right when both are in one
    cluster; a cluster of k crawled copies should yield k - 1 links."""
    clusters: dict[str, int] = {}
    for url in truths:
        root = copy_root(truths, url)
        clusters[root] = clusters.get(root, 0) + 1
    expected = sum(k - 1 for k in clusters.values())
    right = sum(1 for u, d in predicted if copy_root(truths, u) == copy_root(truths, d))
    return right / max(len(predicted), 1), right / max(expected, 1), expected
