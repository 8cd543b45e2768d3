"""The structure docs/ARCHITECTURE.md describes, checked on the source."""
from __future__ import annotations

import ast
import re

from import_graph import ROOT, cycles, graph, modules

# Which top-level package may import which (docs/ARCHITECTURE.md, "What each folder owns").
ALLOWED = {
    "newsarchive": set(),
    "sites": {"newsarchive"},
    "extractors": {"sites", "newsarchive"},
    "dedup": {"sites", "extractors", "newsarchive"},
    "storage": {"newsarchive"},
    "crawl": {"sites", "extractors", "dedup", "storage", "newsarchive"},
    "web": {"storage", "crawl", "newsarchive", "extractors"},
    "replay": {"sites", "extractors", "newsarchive"},
    "flows": {"sites", "crawl", "extractors", "dedup", "storage", "newsarchive", "replay", "web"},
}
# Page templates of the replay web are long by nature (one HTML document each).
LONG_OK = ("replay/sites/",)
MAX_LINES = 80


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_nothing_imports_upward():
    wrong = sorted(f"{a} -> {b}" for a, bs in graph().items() for b in bs
                   if b.split(".")[0] != a.split(".")[0] and b.split(".")[0] not in ALLOWED[a.split(".")[0]])
    assert wrong == []


def test_prefect_only_in_flows():
    users = sorted(name for name, path in modules().items()
                   if not name.startswith("flows") and re.search(r"^\s*(from|import) prefect\b", path.read_text(), re.M))
    assert users == []


def test_no_function_over_80_lines():
    long = []
    for name, path in modules().items():
        rel = str(path.relative_to(ROOT))
        if rel.startswith(LONG_OK):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long.append(f"{rel}:{node.lineno} {node.name} ({n} lines)")
    assert long == []


def test_version_comes_from_package_metadata_only():
    from newsarchive import __version__
    literal = re.compile(r"""["']0\.1\.0["']""")
    offenders = sorted(str(p.relative_to(ROOT)) for p in modules().values() if literal.search(p.read_text()))
    assert offenders == []
    assert __version__ != "0.0.0+unknown"
