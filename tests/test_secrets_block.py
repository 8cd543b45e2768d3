"""A shared archive's credentials from a Prefect Secret block (flows/secrets.py), on a real
Prefect server (the session's test server): loaded at run time, the worker's own env wins,
nothing but names logged, and a missing or malformed block is one line naming the fix."""
from __future__ import annotations

import pytest

from crawl.config import ConfigError
from flows.secrets import ENV_SECRET_BLOCK, load_secret_env

pytestmark = pytest.mark.prefect


@pytest.fixture
def block(prefect_harness):
    from prefect.blocks.system import Secret

    async def save(name: str, value) -> str:
        await Secret(value=value).asave(name, overwrite=True)
        return name
    return save


async def test_block_fills_what_the_environment_lacks(block, monkeypatch):
    name = await block("na-creds", {"AWS_ACCESS_KEY_ID": "from-block", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
                              "PGPASSWORD": "pg-from-block"})
    monkeypatch.setenv(ENV_SECRET_BLOCK, name)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("PGPASSWORD", "the-workers-own")
    loaded = await load_secret_env()
    import os
    assert loaded == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    assert os.environ["AWS_ACCESS_KEY_ID"] == "from-block" and os.environ["AWS_SECRET_ACCESS_KEY"] == "s3cr3t"
    assert os.environ["PGPASSWORD"] == "the-workers-own"


async def test_no_block_named_changes_nothing(monkeypatch):
    monkeypatch.delenv(ENV_SECRET_BLOCK, raising=False)
    assert await load_secret_env() == []


async def test_missing_block_is_one_line_naming_the_fix(prefect_harness, monkeypatch):
    monkeypatch.setenv(ENV_SECRET_BLOCK, "no-such-block")
    with pytest.raises(ConfigError) as e:
        await load_secret_env()
    assert str(e.value) == ("$NEWSARCHIVE_SECRET_BLOCK=no-such-block: no Prefect Secret block of that name on this "
                            "Prefect server; create it (docs/DEPLOY.md, 'Credentials') or unset the variable")


@pytest.mark.parametrize("value, says", [
    ("not json", "must hold a JSON object of strings"),
    ({"AWS_ACCESS_KEY_ID": "x", "HOME": "/tmp"}, "holds HOME; only AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                                                  "AWS_SESSION_TOKEN, PGPASSWORD are taken from it"),
])
async def test_malformed_block_is_refused(block, monkeypatch, value, says):
    monkeypatch.setenv(ENV_SECRET_BLOCK, await block("na-bad", value))
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        await load_secret_env()
