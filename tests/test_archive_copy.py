"""`newsarchive archive copy SRC DST` between a local archive and a shared one (real Postgres and
a real S3 server, moto), both ways: every snapshot answers the same, every file keeps its bytes,
refusals are one exact line, and a copy killed (SIGKILL) at any point is no archive until the
same command, run again, finishes it.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from archive_builders import article, commit_run

from pipeline_helpers import crawl_once
from replay import start_replay
from services import postgres, s3_server
from storage.archive_copy import MARKER, copy_archive
from storage.lake import Archive, ArchiveError
from storage.snapshots import snapshot_ids
from storage.sql import query
from storage.staging import Staging

pytestmark = pytest.mark.slow   # Postgres + an S3 server, tens of seconds to minutes

EXE = str(Path(sys.executable).parent / "newsarchive")
TABLES = ("article_versions", "fetch_log", "runs", "run_stats", "articles", "duplicates", "stories")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> Archive:
    """Two real crawls of the replay web (WARC files, dedup indexes, several snapshots)."""
    arch = Archive(tmp_path_factory.mktemp("crawled") / "archive")
    with start_replay(seed=7, per_site=12) as srv:
        asyncio.run(crawl_once(arch, srv, "r1", dedup=True))
        asyncio.run(crawl_once(arch, srv, "r2", dedup=True))
    assert list(arch.warc_dir.glob("*.warc.gz")) and (arch.root / "index" / "neardup").is_dir()
    return arch


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """Postgres and the S3 server, shared by this module's tests (each uses its own prefixes)."""
    with postgres() as pg, s3_server() as aws:
        yield {**aws, "NEWSARCHIVE_CATALOG": pg,
               "NEWSARCHIVE_WORKDIR": str(tmp_path_factory.mktemp("workdir"))}


@pytest.fixture
def env(services, monkeypatch) -> dict[str, str]:
    for key, value in services.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **services}


def shared_url() -> str:
    return f"s3://newsarchive/copy-{uuid.uuid4().hex[:8]}"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300, env=env or os.environ)


def answers(arch: Archive) -> dict:
    """What the archive answers: rows per table at every snapshot (time travel, as `sql --at`)."""
    con = arch.connect(read_only=True)
    try:
        ids = snapshot_ids(con)
    finally:
        con.close()
    out = {"snapshots": ids}
    for snap in ids[2:]:   # 1-2: the schema migrations (no views yet)
        sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
        out[snap] = sorted(query(arch, f"SELECT * FROM ({sql})", at=snap)[1])
    out["latest"] = query(arch, "SELECT url, version, content_hash FROM article_versions ORDER BY ALL")[1]
    return out


def local_files(arch: Archive) -> dict[str, str]:
    """sha256 of every data, WARC and index file (not the lock dot-files), by relative path."""
    return {p.relative_to(arch.root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("data", "warc", "index") for p in (arch.root / sub).rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def shared_files(arch: Archive) -> dict[str, str]:
    cut = len(arch.shared.prefix) + 1
    return {key[cut:]: hashlib.sha256(arch.store.get_bytes(key)).hexdigest()
            for sub in ("data", "warc", "index") for key, _ in arch.store.list(arch.shared.key(sub) + "/")}


def catalog_rows(path: Path) -> dict[str, list]:
    db = sqlite3.connect(path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
        return {t: sorted(map(repr, db.execute(f"SELECT * FROM {t}").fetchall())) for t in names}
    finally:
        db.close()


def test_local_to_shared_and_back_answers_the_same_with_the_same_bytes(crawled, env, tmp_path):
    expected, files = answers(crawled), local_files(crawled)
    assert len(expected["snapshots"]) >= 4 and any(f.startswith("warc/") for f in files)
    url = shared_url()
    r = cli("archive", "copy", str(crawled.root), url, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"copied {crawled.root} -> {url}: {len(expected['snapshots'])} snapshots")
    assert f"{len(files)} files copied" in r.stdout and "0 already there" in r.stdout
    shared = Archive(url)
    with psycopg.connect(env["NEWSARCHIVE_CATALOG"]) as conn:
        data_path = conn.execute(f"SELECT value FROM {shared.shared.schema}.ducklake_metadata "
                                 f"WHERE key = 'data_path'").fetchone()[0]
    assert data_path == f"{url}/data/"
    assert answers(shared) == expected
    assert shared_files(shared) == files
    assert not shared.store.exists(shared.shared.key(MARKER))
    # Every article's WARC reference reads the same record back through a range request.
    refs = query(shared, "SELECT warc_file, warc_offset, warc_length FROM article_versions LIMIT 5")[1]
    for name, offset, length in refs:
        local = (crawled.warc_dir / name).read_bytes()[offset:offset + length]
        assert shared.store.get_range(shared.shared.key("warc", name), offset, length) == local
    # `sql --at` on the shared copy, through the CLI
    first = expected["snapshots"][2]
    r = cli("--archive", url, "sql", "--at", str(first), "--format", "csv", "SELECT count(*) AS n FROM article_versions",
            env=env)
    assert r.returncode == 0 and r.stdout.splitlines()[1] == str(dict(expected[first])["article_versions"]), r.stderr

    back = Archive(tmp_path / "back")
    result = copy_archive(shared, back)
    assert (result.files_copied, result.files_present) == (len(files), 0)
    assert answers(back) == expected and local_files(back) == files
    original, copied = catalog_rows(crawled.catalog), catalog_rows(back.catalog)
    assert original.pop("ducklake_metadata") != copied.pop("ducklake_metadata")   # data_path: the copy's own
    assert original == copied   # every other catalog row identical after local -> Postgres -> local
    meta = dict(sqlite3.connect(back.catalog).execute("SELECT key, value FROM ducklake_metadata").fetchall())
    assert meta["data_path"] == f"{back.data_dir}/"


def test_shared_to_shared_and_local_to_local(crawled, env, tmp_path):
    expected = answers(crawled)
    one, two = Archive(shared_url()), Archive(shared_url())
    copy_archive(crawled, one)
    result = copy_archive(one, two)
    assert result.snapshots == len(expected["snapshots"]) and answers(two) == expected
    local = Archive(tmp_path / "copy")
    copy_archive(crawled, local)
    assert answers(local) == expected and local_files(local) == local_files(crawled)
    # Both copies take new runs: the copied catalog's ids (snapshots, files, rows) continue.
    for arch in (two, local):
        snap = commit_run(arch, f"after-copy-{uuid.uuid4().hex[:6]}", [article("https://reuters.example/new")])
        assert snap == expected["snapshots"][-1] + 1
        assert query(arch, "SELECT count(*) FROM articles WHERE url = 'https://reuters.example/new'")[1] == [(1,)]
        before = answers(arch)
        assert {k: v for k, v in before.items() if k not in ("snapshots", "latest", snap)} == \
            {k: v for k, v in expected.items() if k not in ("snapshots", "latest")}


def test_refusals_are_one_exact_line(crawled, env, tmp_path):
    src = str(crawled.root)
    taken = tmp_path / "taken"
    shutil.copytree(crawled.root, taken)
    r = cli("archive", "copy", src, str(taken), env=env)
    assert (r.returncode, r.stdout, r.stderr) == (2, "", (
        f"Error: {taken} already holds an archive ({taken}/catalog.sqlite); copy into a new directory or s3:// "
        f"prefix, or move that archive aside first\n"))

    busy = Archive(tmp_path / "busy")
    shutil.copytree(crawled.root, busy.root)
    Staging(busy.staging_dir, "run-7").write_meta({"run_id": "run-7"})   # a run that died before its commit
    r = cli("archive", "copy", str(busy.root), str(tmp_path / "new"), env=env)
    assert (r.returncode, r.stderr) == (2, (
        f"Error: {busy.root} has 1 uncommitted staged run(s) (run-7); commit them first: `newsarchive --archive "
        f"{busy.root} run` commits them before it crawls (or wait for the runs writing them)\n"))
    assert not (tmp_path / "new").exists()

    other = tmp_path / "other"
    (other / "notes").mkdir(parents=True)
    r = cli("archive", "copy", src, str(other), env=env)
    assert (r.returncode, r.stderr) == (2, f"Error: {other} is not empty (notes/) and is no archive; copy into a "
                                           f"new directory or s3:// prefix\n")
    half = tmp_path / "half"   # a copy that died before its first file: no `run` may start an archive there
    half.mkdir()
    (half / MARKER).write_text(json.dumps({"source": src}))
    with pytest.raises(ArchiveError, match=f"^{half}/catalog.sqlite is missing but {half} holds archive data "
                                           r"\(copy-in-progress.json\)"):
        Archive(half).check_catalog(create=True)
    r = cli("archive", "copy", src, src, env=env)
    assert (r.returncode, r.stderr) == (2, f"Error: source and destination are the same archive ({src}); name a "
                                           f"new directory or s3:// prefix as DST\n")
    url = shared_url()
    copy_archive(crawled, Archive(url))
    r = cli("archive", "copy", src, url, env=env)
    schema = Archive(url).shared.schema
    assert (r.returncode, r.stderr) == (2, (
        f"Error: {url} already holds an archive (schema {schema} of {env['NEWSARCHIVE_CATALOG']}); copy into a "
        f"new directory or s3:// prefix, or move that archive aside first\n"))


def killed_copy(src: str, dst: str, env: dict, point: str, tmp: Path) -> None:
    # TMPDIR: the killed process cannot remove its temporary directory; let pytest's go with it.
    tmp.mkdir(exist_ok=True)
    r = cli("archive", "copy", src, dst, env={**env, "NEWSARCHIVE_TEST_KILL_AT": point, "TMPDIR": str(tmp)})
    assert r.returncode == -9, f"not killed at {point}: {r.returncode} {r.stderr}"


def test_a_killed_copy_is_no_archive_and_the_same_command_finishes_it(crawled, env, tmp_path):
    expected, src = answers(crawled), str(crawled.root)
    # Killed after 3 files: DST holds files and the marker, no catalog; nothing opens it as an archive.
    url = shared_url()
    killed_copy(src, url, env, "copy-file:3", tmp_path / "tmp")
    dst = Archive(url)
    assert json.loads(dst.store.get_bytes(dst.shared.key(MARKER)))["source"] == src
    assert not dst.exists()
    r = cli("--archive", url, "sql", "SELECT count(*) FROM articles", env=env)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "is missing but" in r.stderr, r.stderr
    other = tmp_path / "other"
    shutil.copytree(crawled.root, other)
    r = cli("archive", "copy", str(other), url, env=env)   # another source into the half copy
    assert (r.returncode, r.stderr) == (2, (
        f"Error: {url} holds an unfinished copy of {src}; finish it with `newsarchive archive copy {src} {url}`, "
        f"or delete {url} to start over\n"))
    r = cli("archive", "copy", src, url, env=env)
    assert r.returncode == 0, r.stderr
    present = int(r.stdout.split(" already there")[0].rsplit(" ", 1)[-1])
    assert present >= 3, r.stdout
    assert answers(dst) == expected and not dst.store.exists(dst.shared.key(MARKER))

    # Killed with every file copied but the catalog not yet published (shared -> local).
    back = tmp_path / "back"
    killed_copy(url, str(back), env, "copy-before-publish", tmp_path / "tmp")
    assert (back / MARKER).exists() and not (back / "catalog.sqlite").exists()
    assert (back / "catalog.sqlite.copying").exists()
    r = cli("archive", "copy", url, str(back), env=env)
    assert r.returncode == 0 and "0 files copied" in r.stdout, r.stdout + r.stderr
    assert answers(Archive(back)) == expected and not (back / MARKER).exists()
    assert not (back / "catalog.sqlite.copying").exists()

    # Killed after publishing, before the marker went: the rerun only checks and tidies up.
    again = shared_url()
    killed_copy(str(back), again, env, "copy-published", tmp_path / "tmp")
    assert Archive(again).exists()
    r = cli("archive", "copy", str(back), again, env=env)
    assert r.returncode == 0 and "0 files copied" in r.stdout, r.stdout + r.stderr
    assert answers(Archive(again)) == expected
    assert not Archive(again).store.exists(Archive(again).shared.key(MARKER))


def test_help_has_an_example():
    from click.testing import CliRunner

    from flows.cli import cli
    for args in (["archive", "--help"], ["archive", "copy", "--help"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "Example:" in result.output and "newsarchive archive copy ./archive s3://" in result.output


def test_objects_are_checked_by_etag_or_read_back(env, tmp_path, monkeypatch):
    import boto3
    from boto3.s3.transfer import TransferConfig

    from storage.archive_copy import CopyError, Digest, ObjectFiles, digest_file
    from storage.objects import S3Store
    arch = Archive(shared_url())
    files = ObjectFiles(arch)
    big = tmp_path / "big.warc.gz"
    big.write_bytes(os.urandom(20 << 20))   # 3 parts of 8 MiB when uploaded in parts
    d = digest_file(big)
    assert d.parts_etag.endswith("-3")
    # A multipart upload's ETag (what S3Store.put_file makes of files over 64 MB) is the parts' MD5.
    boto3.client("s3").upload_file(str(big), "newsarchive", arch.shared.key("warc", "big.warc.gz"),
                                   Config=TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20))
    assert arch.store.stat(arch.shared.key("warc", "big.warc.gz"))[1] == d.parts_etag
    assert files.holds("warc/big.warc.gz", d)
    small = tmp_path / "small"
    small.write_bytes(b"x" * 1000)
    s = digest_file(small)
    files.put(small, "warc/small", s, tmp_path)
    assert files.holds("warc/small", s)
    # A server whose ETag is no MD5 (encryption, ...): the object is read back and compared.
    real_stat = S3Store.stat
    monkeypatch.setattr(S3Store, "stat", lambda self, key: (real_stat(self, key)[0], "opaque-etag"))
    files.put(small, "warc/again", s, tmp_path)
    wrong = Digest(s.size, "0" * 64, s.md5, s.parts_etag)
    with pytest.raises(CopyError, match=r"warc/wrong: the uploaded object differs from its source"):
        files.put(small, "warc/wrong", wrong, tmp_path)
    assert list(tmp_path.glob("readback-*")) == []
