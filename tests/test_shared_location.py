"""Naming a shared archive: every mistake in --archive s3://... or its settings is one line
that names the setting and the fix, exit 2, and never shows a credential (sqlite-utils style:
the exact text is tested). The servers are real but absent: nothing listens on port 1."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from flows.cli import cli
from storage.location import parse_shared, redact

CATALOG = "postgresql://newsarchive@127.0.0.1:1/newsarchive"
ENV = {"NEWSARCHIVE_CATALOG": CATALOG, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-key",
       "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}


def sql(archive: str, **env: str | None):
    return CliRunner().invoke(cli, ["--archive", archive, "sql", "SELECT 1"], env={**ENV, **env})


@pytest.mark.parametrize("archive, env, message", [
    ("s3://AK:SK@newsarchive/x", {}, "--archive s3://AK:***@newsarchive/x: credentials do not belong in the archive "
     "URL (they would show in `ps` and logs); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead"),
    ("gs://b/x", {}, "--archive gs://b/x: gs:// archives are not supported; use a local directory or "
     "s3://BUCKET/PREFIX (S3-compatible storage with a Postgres catalog)"),
    ("s3://Bad_Bucket/x", {}, "--archive s3://Bad_Bucket/x: 'Bad_Bucket' is not a valid S3 bucket name (3-63 "
     "lowercase letters, digits, dots, hyphens); use s3://BUCKET/PREFIX"),
    ("s3://newsarchive", {}, "--archive s3://newsarchive: give the archive its own prefix of letters, digits, "
     "'._-/' (s3://newsarchive/team-archive), so several archives can share the bucket"),
    ("s3://newsarchive/x/../y", {}, "--archive s3://newsarchive/x/../y: give the archive its own prefix of letters, "
     "digits, '._-/' (s3://newsarchive/team-archive), so several archives can share the bucket"),
    ("s3://newsarchive/x", {"NEWSARCHIVE_CATALOG": ""}, "--archive s3://newsarchive/x is a shared archive, whose "
     "catalog lives in Postgres: set $NEWSARCHIVE_CATALOG to a connection string such as "
     "postgresql://newsarchive@db.example:5432/newsarchive (password in PGPASSWORD)"),
    ("s3://newsarchive/x", {"NEWSARCHIVE_CATALOG": "postgresql://u:hunter2@127.0.0.1:1/db"},
     'cannot connect to the archive catalog database postgresql://u:***@127.0.0.1:1/db: connection failed: '
     'connection to server at "127.0.0.1", port 1 failed: Connection refused; check $NEWSARCHIVE_CATALOG, that '
     'Postgres is up, and PGPASSWORD/~/.pgpass'),
])
def test_a_wrong_shared_archive_is_one_line_naming_the_fix(archive, env, message):
    result = sql(archive, **env)
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {message}\n"
    assert "hunter2" not in result.output and "SK@" not in result.output


@pytest.fixture(scope="module")
def catalog():
    from tests.services import postgres
    with postgres() as pg:
        yield f"{pg}/prefect"


def test_no_s3_credentials_is_named_before_anything_is_written(catalog):
    result = CliRunner().invoke(cli, ["--archive", "s3://newsarchive/x", "run", "--replay", "--max-articles", "1"],
                                env={**ENV, "NEWSARCHIVE_CATALOG": catalog,
                                     "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    assert result.exit_code == 2, result.output
    assert result.output == ("Error: cannot list s3://newsarchive/x/data/: Unable to locate credentials; set "
                             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a non-AWS server)\n")


def test_an_unreachable_s3_endpoint_is_named(catalog):
    result = CliRunner().invoke(cli, ["--archive", "s3://newsarchive/x", "run", "--replay", "--max-articles", "1"],
                                env={**ENV, "NEWSARCHIVE_CATALOG": catalog})
    assert result.exit_code == 2, result.output
    assert result.output == ('Error: cannot list s3://newsarchive/x/data/: Could not connect to the endpoint URL: '
                             '"http://127.0.0.1:1/newsarchive?list-type=2&prefix=x%2Fdata%2F&encoding-type=url"; '
                             'is the S3 endpoint up? (AWS_ENDPOINT_URL=http://127.0.0.1:1)\n')
    assert "s3cr3t" not in result.output


def test_where_a_shared_archive_lives(tmp_path):
    loc = parse_shared("s3://newsarchive/team/news", {"NEWSARCHIVE_CATALOG": CATALOG,
                                                      "NEWSARCHIVE_WORKDIR": str(tmp_path)})
    assert loc.key("warc", "a.warc.gz") == "team/news/warc/a.warc.gz"
    assert loc.s3_url("data") == "s3://newsarchive/team/news/data"
    assert loc.workdir == tmp_path / "newsarchive_team_news"
    assert loc.schema.startswith("newsarchive_newsarchive_team_news_") and len(loc.schema) <= 63
    other = parse_shared("s3://newsarchive/team-news", {"NEWSARCHIVE_CATALOG": CATALOG})
    assert other.schema != loc.schema, "two archives of one bucket never share a catalog schema"


@pytest.mark.parametrize("dsn, shown", [
    ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("host=h user=u password=pw dbname=db", "host=h user=u password=*** dbname=db"),
    ("host=h password='p w' dbname=db", "host=h password=*** dbname=db"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
])
def test_connection_strings_are_shown_without_passwords(dsn, shown):
    assert redact(dsn) == shown


def test_a_lost_catalog_beside_archive_data_is_refused_never_replaced(catalog, tmp_path, monkeypatch):
    """The shared counterpart of a deleted catalog.sqlite: the Postgres schema is gone (dropped,
    or $NEWSARCHIVE_CATALOG points at another database) but the bucket holds the archive's data.
    A writing run must not start a new, empty catalog over it."""
    import psycopg

    from storage.lake import Archive, ArchiveError
    from tests.services import s3_server
    with s3_server() as s3env:
        for k, v in {**s3env, "NEWSARCHIVE_CATALOG": catalog, "NEWSARCHIVE_WORKDIR": str(tmp_path)}.items():
            monkeypatch.setenv(k, v)
        archive = Archive("s3://newsarchive/lost")
        archive.init()
        archive.store.put_bytes(archive.shared.key("warc", "a.warc.gz"), b"raw pages")
        with psycopg.connect(catalog, autocommit=True) as db:
            db.execute(f'DROP SCHEMA "{archive.shared.schema}" CASCADE')
        with pytest.raises(ArchiveError) as e:
            Archive("s3://newsarchive/lost").init()
        assert str(e.value) == (
            f"the archive catalog (schema {archive.shared.schema} of {catalog}) is missing but "
            f"s3://newsarchive/lost holds archive data (data/, warc/); restore the schema from a backup (pg_dump -n "
            f"{archive.shared.schema}), or point $NEWSARCHIVE_CATALOG at the database that holds it; newsarchive "
            f"never creates a new catalog over existing data")
        with psycopg.connect(catalog) as db:
            assert db.execute("SELECT to_regclass(%s)", [f"{archive.shared.schema}.ducklake_metadata"]).fetchone()[0] \
                is None, "no new catalog was created"
