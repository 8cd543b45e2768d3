"""The README's code blocks, run as printed where practical, against a crawled archive."""
from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_helpers import crawl_once
from replay import start_replay
from storage.lake import Archive
from storage.search import refresh_index

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BIN = Path(sys.executable).parent
# Commands that start servers or crawl (the main job, serve, browse, backfill) are run by their own tests.
LONG_RUNNING = ("newsarchive run", "newsarchive serve", "newsarchive browse", "newsarchive backfill",
                "newsarchive replay", "newsarchive deploy", "pip install", "prefect ")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory like the one the README's commands run in: ./archive after the main job."""
    d = tmp_path_factory.mktemp("readme")
    arch = Archive(d / "archive")
    with start_replay(seed=1, per_site=30) as srv:
        asyncio.run(crawl_once(arch, srv, "readme-run", dedup=True))
    refresh_index(arch)
    return d


def example_commands() -> list[str]:
    out = []
    for block in blocks("sh"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(".venv/bin/newsarchive ") and not any(k in line for k in LONG_RUNNING):
                out.append(line)
    return out


def test_the_readme_has_examples_to_run():
    assert len(example_commands()) >= 7


@pytest.mark.parametrize("command", example_commands())
def test_readme_example_runs_as_printed(workdir, command):
    argv = shlex.split(command)
    argv[0] = str(BIN / "newsarchive")
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), "printed nothing"


def test_readme_plain_duckdb_snippet_reads_the_archive_offline(workdir):
    snippet = next(b for b in blocks("sh") if "duckdb_extension_ducklake" in b)
    code = re.search(r"<<'EOF'\n(.*?)\nEOF", snippet, re.S).group(1)
    done = subprocess.run([sys.executable, "-"], input=code, cwd=workdir, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "almayadeen" in done.stdout and "reuters" in done.stdout
