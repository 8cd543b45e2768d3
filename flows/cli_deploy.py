"""`newsarchive deploy`: the deployments of deploy/prefect.yaml on a Prefect server, for workers."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import click

from newsarchive.errors import NewsarchiveError

#: deploy/prefect.yaml of the source tree this package runs from (a checkout or an editable install).
DEFAULT_PREFECT_FILE = Path(__file__).resolve().parents[1] / "deploy" / "prefect.yaml"


class DeployError(NewsarchiveError):
    """The deployments could not be registered."""


def _read_prefect_file(path: Path) -> dict:
    import yaml   # PyYAML ships with prefect
    try:
        spec = yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError:
        raise DeployError(f"no Prefect deployment file at {path}; pass --prefect-file "
                          f"(the repository's deploy/prefect.yaml)") from None
    except yaml.YAMLError as e:
        raise DeployError(f"{path} is not valid YAML ({str(e).splitlines()[0]}); fix the file") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("deployments"), list):
        raise DeployError(f"{path} has no 'deployments' list; see the repository's deploy/prefect.yaml")
    return spec


async def _ensure_pool(name: str, limit: int | None) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker
    async with get_client() as client:
        try:
            await client.read_work_pool(name)
            if limit is not None:
                await client.update_work_pool(name, WorkPoolUpdate(concurrency_limit=limit))
            return "exists"
        except ObjectNotFound:
            await client.create_work_pool(WorkPoolCreate(
                name=name, type="process", concurrency_limit=limit,
                base_job_template=ProcessWorker.get_default_base_job_template()))
            return "created"


async def _apply_schedules(cfg, names: dict[str, str]) -> list[str]:
    """Replace each deployment's schedules with the one of its site config."""
    from prefect.client.orchestration import get_client

    from flows.deployments import FLOW_NAME, schedule_objects
    out = []
    async with get_client() as client:
        for dep_name, site in names.items():
            dep = await client.read_deployment_by_name(f"{FLOW_NAME}/{dep_name}")
            for old in await client.read_deployment_schedules(dep.id):
                await client.delete_deployment_schedule(dep.id, old.id)
            sched = schedule_objects(cfg.site(site))
            await client.create_deployment_schedules(dep.id, [(sched, True)])
            out.append(f"{FLOW_NAME}/{dep_name}: {cfg.site(site).schedule}")
    return out


#: Prefect's heartbeat period when the deployment file's env does not set
#: PREFECT_FLOWS_HEARTBEAT_FREQUENCY (deploy/prefect.yaml sets 30, Prefect's least).
PREFECT_DEFAULT_HEARTBEAT_S = 180
#: Heartbeats missed before a flow run is marked Crashed.
MISSED_HEARTBEATS = 3
CRASH_AUTOMATION = "newsarchive: mark runs whose process died Crashed"


def heartbeat_seconds(spec: dict) -> int:
    """The longest heartbeat period the deployment file gives its flow runs."""
    periods = []
    for d in spec["deployments"]:
        env = (((d.get("work_pool") or {}).get("job_variables") or {}).get("env") or {})
        value = env.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", PREFECT_DEFAULT_HEARTBEAT_S)
        try:
            periods.append(max(30, int(value)))
        except (TypeError, ValueError):
            raise DeployError(f"deployment {d.get('name')!r}: PREFECT_FLOWS_HEARTBEAT_FREQUENCY = {value!r} is not "
                              f"a whole number of seconds; set it to 30 or more") from None
    return max(periods, default=PREFECT_DEFAULT_HEARTBEAT_S)


def crash_automation(heartbeat_s: int, missed: int = MISSED_HEARTBEATS):
    """The automation that marks a newsarchive flow run Crashed once its heartbeats stop.

    A flow run whose process dies with its host (kill -9, the OOM killer, a power cut) is left
    Running by Prefect for ever, and a Running run keeps its work pool slot: with --pool-limit 4,
    four such deaths stop every schedule. The run's heartbeat events stop with it; this is the
    Prefect docs' "detect zombie flows" recipe, kept to flow runs tagged ``newsarchive`` (the
    deployments of deploy/prefect.yaml), so other flows on the server are left alone. The
    archive needs nothing from it: the next run commits the dead run's staged batches."""
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    within = heartbeat_s * missed
    return Automation(
        name=CRASH_AUTOMATION,
        description=f"A newsarchive flow run with no heartbeat for {within} s ({missed} missed) is marked "
                    f"Crashed, so it frees its work pool slot (created by `newsarchive deploy`).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification({"prefect.resource.id": "prefect.tag.newsarchive"}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within),
        ),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"no heartbeat for {within} s: its process died (host lost, kill -9, OOM); the archive's "
                    f"next run commits what it staged")],
    )


async def _ensure_crash_automation(heartbeat_s: int) -> str:
    """Create the automation, or replace an older one of the same name (its settings may differ)."""
    from prefect.automations import Automation
    try:
        old = await Automation.aread(name=CRASH_AUTOMATION)
    except ValueError:
        old = None
    if old is not None:
        await old.adelete()
    await crash_automation(heartbeat_s).acreate()
    return "replaced" if old is not None else "created"


@click.command()
@click.option("--prefect-file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_PREFECT_FILE,
              show_default="the repository's deploy/prefect.yaml", help="Prefect deployment file.")
@click.option("--pool-limit", type=click.IntRange(min=1), default=None,
              help="Most flow runs the whole work pool runs at once (all workers together).")
@click.pass_obj
def deploy(obj, prefect_file: Path, pool_limit: int | None) -> None:
    """Register the scrape deployments of deploy/prefect.yaml for a work pool of workers.

    Creates the process work pool the file names if it is missing, registers one
    deployment per site (module entrypoints, archive and config of this command
    passed to every worker), sets each schedule from the site config, and adds an
    automation that marks a flow run whose process died Crashed. Needs a
    running Prefect server (PREFECT_API_URL). Then, on each worker host:
    `prefect worker start --pool newsarchive --limit 2`.

    \b
    Example:
      export PREFECT_API_URL=http://127.0.0.1:4200/api
      newsarchive --archive /srv/archive deploy --pool-limit 4
    """
    if not os.environ.get("PREFECT_API_URL"):
        raise DeployError("deploy needs a running Prefect server that every worker reaches: start one "
                          "(`prefect server start`, see docs/DEPLOY.md) and export PREFECT_API_URL")
    cfg = obj.config()
    spec = _read_prefect_file(prefect_file)
    beat = heartbeat_seconds(spec)
    deployments = {d.get("name"): (d.get("parameters") or {}).get("sites", [None])[0] for d in spec["deployments"]}
    missing = sorted(set(cfg.sites) - set(deployments.values()))
    if missing:
        raise DeployError(f"{prefect_file} has no deployment for site(s) {', '.join(missing)} of {cfg.source}; "
                          f"add one per site (copy an existing entry, name it scrape-<site>)")
    # A config may list some of the sites only: their deployments are registered, the others left alone.
    deployments = {n: s for n, s in deployments.items() if s in cfg.sites}
    from flows.deployments import registered
    served = [n for n, pool in asyncio.run(registered(list(deployments))).items() if pool is None]
    if served:
        raise DeployError(f"deployment scrape/{served[0]} is served by `newsarchive serve` (no work pool); "
                          f"registering it for workers would take it from those processes: stop them and "
                          f"delete it first (`prefect deployment delete scrape/{served[0]}`)")
    pools = {(d.get("work_pool") or {}).get("name") for d in spec["deployments"]} - {None}
    for pool in sorted(pools):
        click.echo(f"work pool {pool}: {asyncio.run(_ensure_pool(pool, pool_limit))}")
    env = {**os.environ, "NEWSARCHIVE_ARCHIVE": obj.archive.location,
           "NEWSARCHIVE_CONFIG": str(Path(obj.config_path).resolve()) if obj.config_path else ""}
    prefect = Path(sys.executable).with_name("prefect")
    names = [arg for n in deployments for arg in ("--name", n)]
    proc = subprocess.run([str(prefect) if prefect.exists() else "prefect", "--no-prompt", "deploy", *names,
                           "--prefect-file", str(prefect_file.resolve())],
                          cwd=prefect_file.resolve().parent, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " | ".join(line.strip() for line in (proc.stdout + proc.stderr).splitlines()[-6:] if line.strip())
        raise DeployError(f"`prefect deploy` on {prefect_file} failed (exit {proc.returncode}): {tail}")
    for line in asyncio.run(_apply_schedules(cfg, deployments)):
        click.echo(f"deployment {line}")
    click.echo(f"automation {CRASH_AUTOMATION!r}: {asyncio.run(_ensure_crash_automation(beat))} (a flow run "
               f"with no heartbeat for {beat * MISSED_HEARTBEATS} s is marked Crashed)")
    click.echo(f"archive for every worker: {obj.archive.location}; start workers with "
               f"`prefect worker start --pool {sorted(pools)[0]} --limit 2`")


COMMANDS = [deploy]
