"""SQL formatting, the interactive shell and the CLI's help and error texts."""
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from flows.cli import cli
from storage.lake import Archive
from storage.sql import format_result, shell

COMMANDS = ["sites", "run", "sql", "serve", "replay", "extract", "backfill",
            "snapshots", "export", "compact", "search", "reextract"]


def test_format_table_csv_json():
    cols, rows = ["site", "n", "tags"], [("reuters", 2, ["a", "b"]), ("almayadeen", None, [])]
    table = format_result(cols, rows, "table")
    assert "| reuters    | 2    | [\"a\", \"b\"] |" in table and table.endswith("(2 rows)")
    assert format_result(cols, rows, "csv").splitlines() == ["site,n,tags", 'reuters,2,"[""a"", ""b""]"', "almayadeen,,[]"]
    assert json.loads(format_result(cols, rows, "json")) == [
        {"site": "reuters", "n": 2, "tags": ["a", "b"]}, {"site": "almayadeen", "n": None, "tags": []}]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "newsarchive" in result.output


def test_sql_on_missing_archive_says_what_to_do(tmp_path):
    result = CliRunner().invoke(cli, ["--archive", str(tmp_path / "none"), "sql", "SELECT 1"])
    assert result.exit_code == 2
    assert "no archive at" in result.output and "run `newsarchive run` first" in result.output


def test_sql_formats_and_errors(tmp_path):
    Archive(tmp_path / "a").init()
    runner = CliRunner()
    ok = runner.invoke(cli, ["--archive", str(tmp_path / "a"), "sql", "--format", "csv",
                             "SELECT count(*) AS n FROM articles"])
    assert ok.exit_code == 0 and ok.output.splitlines() == ["n", "0"]
    bad = runner.invoke(cli, ["--archive", str(tmp_path / "a"), "sql", "SELEC nonsense"])
    assert bad.exit_code == 2 and "Error: ParserException" in bad.output
    env = runner.invoke(cli, ["sql", "SELECT count(*) FROM runs"], env={"NEWSARCHIVE_ARCHIVE": str(tmp_path / "a")})
    assert env.exit_code == 0 and "(1 row)" in env.output


def test_interactive_shell_reads_statements(tmp_path):
    arch = Archive(tmp_path / "a")
    arch.init()
    out = io.StringIO()
    shell(arch, stdin=io.StringIO("SELECT 40 +\n2 AS answer;\n.tables\nSELECT nope;\n.quit\n"), stdout=out)
    text = out.getvalue()
    assert "| answer |" in text and "| 42     |" in text
    assert "articles" in text and "error: " in text


def test_bad_config_and_unknown_site_are_one_line_errors(tmp_path):
    bad = tmp_path / "sites.toml"
    bad.write_text('[sites.x]\ndomains = ["x.example"]\nextractor = "generic"\nfeeds = ["https://x.example/rss"]\ntimezone = "Nowhere"\n')
    r = CliRunner().invoke(cli, ["--config", str(bad), "sites"])
    assert r.exit_code == 2 and "timezone 'Nowhere' is not an IANA zone" in r.output
    r = CliRunner().invoke(cli, ["run", "--site", "bbc"])
    assert r.exit_code == 2 and "no site named 'bbc'" in r.output and "configured: almayadeen, reuters" in r.output


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "flows.cli", "sites"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "english.almayadeen.net" in r.stdout and "Asia/Beirut" in r.stdout


def test_reextract_without_archive_says_what_to_do(tmp_path):
    r = CliRunner().invoke(cli, ["--archive", str(tmp_path / "none"), "reextract", "--site", "reuters"])
    assert r.exit_code == 2 and "nothing to re-extract (run `newsarchive run` first)" in r.output
    r = CliRunner().invoke(cli, ["reextract", "--site", "bbc"])
    assert r.exit_code == 2 and "no site named 'bbc'" in r.output


def test_sql_help_states_what_is_refused_and_how_several_statements_run():
    text = " ".join(CliRunner().invoke(cli, ["sql", "--help"]).output.split())
    assert "Read-only unless --write; with --write only the lake's tables change." in text
    assert "ATTACH/DETACH/USE, INSTALL/LOAD, SET/PRAGMA" in text
    assert "Several statements separated by ';' are all checked before any runs" in text
