"""Credentials of a shared archive from a Prefect Secret block, read at run time.

A deployment must not carry secrets in its job variables: Prefect stores those in plain text
and shows them to anyone who can read the deployment (and `{{ prefect.blocks.secret.X }}` in
prefect.yaml is resolved at deploy time into exactly such plain text). So the deployment
names a block instead, ``NEWSARCHIVE_SECRET_BLOCK=newsarchive-credentials``, and each flow
run loads it from the Prefect server when it starts. The block is a Secret holding a JSON
object of environment variables:

    prefect block create secret   # or, in Python:
    Secret(value={"AWS_ACCESS_KEY_ID": "...", "AWS_SECRET_ACCESS_KEY": "...",
                  "PGPASSWORD": "..."}).save("newsarchive-credentials")

A variable already in the worker's environment wins (the worker's own setting is the more
specific one). Only the names of what was loaded are logged, never the values.
"""
from __future__ import annotations

import json
import os

from crawl.config import ConfigError

ENV_SECRET_BLOCK = "NEWSARCHIVE_SECRET_BLOCK"
ALLOWED = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")


def _as_mapping(name: str, value) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"Prefect Secret block {name!r} (${ENV_SECRET_BLOCK}) must hold a JSON object of "
                          f"strings, such as {{\"AWS_ACCESS_KEY_ID\": \"...\", \"AWS_SECRET_ACCESS_KEY\": \"...\"}}")
    unknown = sorted(set(value) - set(ALLOWED))
    if unknown:
        raise ConfigError(f"Prefect Secret block {name!r} (${ENV_SECRET_BLOCK}) holds {', '.join(unknown)}; "
                          f"only {', '.join(ALLOWED)} are taken from it")
    return value


async def load_secret_env() -> list[str]:
    """Set the block's variables that the environment lacks; returns their names."""
    name = os.environ.get(ENV_SECRET_BLOCK, "").strip()
    if not name:
        return []
    from prefect.blocks.system import Secret
    try:
        block = await Secret.aload(name)
    except ValueError:
        raise ConfigError(f"${ENV_SECRET_BLOCK}={name}: no Prefect Secret block of that name on this Prefect "
                          f"server; create it (docs/DEPLOY.md, 'Credentials') or unset the variable") from None
    values = _as_mapping(name, block.get())
    loaded = [k for k in ALLOWED if k in values and not os.environ.get(k)]
    for key in loaded:
        os.environ[key] = values[key]
    return loaded
