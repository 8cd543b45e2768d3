"""The archive is never silently replaced, and every storage fault is one line with exit code 2.

Real archives on disk (tests/archive_builders.py), real corruption (truncated catalog, flipped
bytes), and real read-only files: tests run as root, for whom permission bits change nothing,
so read-only is made with `chattr +i` (immutable: not even root may write or create files).
"""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archive_builders import build_news_archive
from storage.lake import Archive, ArchiveError
from storage.schema import SCHEMA_VERSION
from storage.sql import QueryError, query

EXE = str(Path(sys.executable).parent / "newsarchive")
RESTORE = "restore catalog.sqlite from a backup copy of the archive directory"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine") / "archive"
    build_news_archive(root)
    return root


@pytest.fixture
def news(pristine, tmp_path):
    arch = Archive(tmp_path / "archive")
    shutil.copytree(pristine, arch.root)
    return arch


def data_files(arch: Archive) -> dict[str, int]:
    return {str(p.relative_to(arch.root)): p.stat().st_size for p in arch.data_dir.rglob("*") if p.is_file()}


def cli(arch: Archive, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, "--archive", str(arch.root), *args], capture_output=True, text=True, timeout=120)


def assert_one_line_error(r: subprocess.CompletedProcess, *fragments: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("Error: ") and len(r.stderr.splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for fragment in fragments:
        assert fragment in r.stderr, (fragment, r.stderr)


@contextlib.contextmanager
def immutable(path: Path):
    """chattr +i for the duration (undone even when the test fails)."""
    r = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"chattr +i not available here ({r.stderr.strip()}): cannot make a read-only file as root")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_zero_byte_catalog_beside_data_is_refused_never_replaced(news):
    before = data_files(news)
    news.catalog.write_bytes(b"")
    for attempt in (news.init, lambda: news.connect(), lambda: news.connect(read_only=True)):
        with pytest.raises(ArchiveError) as caught:
            attempt()
        assert str(caught.value).startswith(f"the archive catalog {news.catalog} is empty (0 bytes) beside data/")
        assert RESTORE in str(caught.value)
    assert news.catalog.stat().st_size == 0 and data_files(news) == before
    # The CLI: a run stops before crawling (no replay web started), queries stop too.
    assert_one_line_error(cli(news, "run", "--replay", "--replay-articles", "3"), "is empty (0 bytes)", RESTORE)
    assert_one_line_error(cli(news, "sql", "SELECT count(*) FROM articles"), "is empty (0 bytes)")
    assert_one_line_error(cli(news, "snapshots"), "is empty (0 bytes)")
    assert news.catalog.stat().st_size == 0 and data_files(news) == before


def test_missing_catalog_beside_data_is_refused(news):
    news.catalog.unlink()
    with pytest.raises(ArchiveError, match=r"catalog\.sqlite is missing but .* holds archive data \(data/\)"):
        news.init()
    assert not news.catalog.exists()


def test_empty_catalog_without_data_starts_a_fresh_archive(tmp_path):
    arch = Archive(tmp_path / "fresh")
    arch.root.mkdir()
    arch.catalog.write_bytes(b"")   # a first init that died before writing anything
    assert arch.init() == SCHEMA_VERSION
    assert query(arch, "SELECT count(*) FROM articles")[1] == [(0,)]


def test_unknown_file_as_catalog_is_never_overwritten(tmp_path):
    arch = Archive(tmp_path / "odd")
    arch.root.mkdir()
    arch.catalog.write_bytes(b"not a database\n")
    with pytest.raises(ArchiveError, match=r"is not a SQLite database \(damaged\)"):
        arch.init()
    assert arch.catalog.read_bytes() == b"not a database\n"


def flip(path: Path, offset: int, length: int = 32) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        data = bytearray(f.read(length))
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in data))


def test_flipped_header_bytes_are_one_line_errors(news):
    flip(news.catalog, 0)
    with pytest.raises(ArchiveError, match=r"is not a SQLite database \(damaged\) beside data/"):
        news.init()
    assert_one_line_error(cli(news, "sql", "SELECT 1"), "is not a SQLite database (damaged)", RESTORE)


def test_flipped_btree_bytes_are_refused_before_a_run(news):
    flip(news.catalog, 100)   # page 1's b-tree header (sqlite_master)
    with pytest.raises(ArchiveError) as caught:
        news.init()
    assert str(news.catalog) in str(caught.value) and RESTORE in str(caught.value)
    assert_one_line_error(cli(news, "run", "--replay", "--replay-articles", "3"), str(news.catalog), RESTORE)
    assert_one_line_error(cli(news, "sql", "SELECT count(*) FROM articles"), str(news.catalog))


def test_flipped_bytes_anywhere_end_in_archive_or_query_errors(pristine, tmp_path):
    """Bytes flipped in every 4th page of the catalog: opening, migrating and querying either
    work or raise the project's one-line errors; nothing else escapes and nothing is replaced."""
    size = (pristine / "catalog.sqlite").stat().st_size
    outcomes = {}
    for n, offset in enumerate(range(0, size, 4 * 4096)):
        arch = Archive(tmp_path / f"a{n}")
        shutil.copytree(pristine, arch.root)
        flip(arch.catalog, offset + 8 if offset else 100, 64)
        try:
            arch.init()
            outcomes[offset] = query(arch, "SELECT count(*) FROM article_versions")[1]
        except (ArchiveError, QueryError) as e:
            assert "\n" not in str(e), str(e)
            assert isinstance(e, QueryError) or str(arch.catalog) in str(e), str(e)
            outcomes[offset] = type(e).__name__
        assert arch.catalog.stat().st_size >= size   # never replaced by a new, empty catalog
        shutil.rmtree(arch.root)
    assert "ArchiveError" in outcomes.values(), outcomes
    assert all(o in ("ArchiveError", "QueryError", [(7,)]) for o in outcomes.values()), outcomes


def test_read_only_archive_directory_stops_a_run_before_it_starts(news):
    before = data_files(news)
    with immutable(news.root):
        with pytest.raises(ArchiveError) as caught:
            news.init()
        assert str(caught.value).startswith(f"cannot write to the archive {news.root}: Operation not permitted")
        assert "must be writable by this user" in str(caught.value)
        assert_one_line_error(cli(news, "run", "--replay", "--replay-articles", "3"),
                              "cannot write to the archive", "Operation not permitted")
        assert_one_line_error(cli(news, "sql", "SELECT count(*) FROM articles"), "is read-only")
    assert data_files(news) == before


def test_read_only_catalog_stops_a_run_and_still_answers_queries(news):
    with immutable(news.catalog):
        with pytest.raises(ArchiveError, match=r"cannot write to the archive .*Operation not permitted: .*catalog\.sqlite"):
            news.init()
        assert_one_line_error(cli(news, "run", "--replay", "--replay-articles", "3"), "catalog.sqlite")
        assert_one_line_error(cli(news, "sql", "--write", "DELETE FROM runs"), "catalog.sqlite")
        r = cli(news, "sql", "--format", "csv", "SELECT count(*) AS n FROM articles")
        assert r.returncode == 0 and r.stdout.splitlines() == ["n", "6"], r.stderr
    assert query(news, "SELECT count(*) FROM article_versions")[1] == [(7,)]


def test_cli_errors_are_one_line_with_exit_code_2(news, tmp_path):
    assert_one_line_error(cli(Archive(tmp_path / "none"), "sql", "SELECT 1"), "no archive at")
    assert_one_line_error(cli(news, "compact", "--keep-last", "0"), "--keep-last 0: must be 1 or more")
    assert_one_line_error(cli(news, "run", "--site", "bbc"), "no site named 'bbc'")
    assert_one_line_error(cli(news, "sql", "SELEC 1"), "ParserException")
    assert_one_line_error(cli(news, "sql", "--at", "99", "SELECT 1"), "--at 99: no such snapshot")
    assert_one_line_error(cli(news, "export", str(tmp_path / "exp"), "--at", "77"), "--at 77")
