"""The ``cti`` command.

Commands import what they use inside their own body so that ``cti --help`` and
the small commands start fast without loading the web, AMI and database stacks;
there is no import cycle to dodge (``lint-imports`` checks).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cti.settings import Settings, SettingsError, load_section, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cti.jobs.models import Job

app = typer.Typer(help="CTI hotline service for e-commerce call centres.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
orders_app = typer.Typer(help="Orders from shop backends.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")
jobs_app = typer.Typer(help="Durable jobs: callbacks, dialling, webhooks.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
recordings_app = typer.Typer(help="Call recordings and their catalog.", no_args_is_help=True)
app.add_typer(recordings_app, name="recordings")

EnvFile = Annotated[
    Path | None,
    typer.Option("--env-file", envvar="CTI_ENV_FILE", help="file with CTI_* settings"),
]


def _settings(env_file: Path | None) -> Settings:
    from cti.acd.settings import load_acd_settings
    from cti.agents.config import AgentSettings
    from cti.confirmations.config import ConfirmationSettings
    from cti.jobs.config import JobSettings
    from cti.recordings.config import RecordingSettings
    from cti.recordings.scoresheets import load_scoresheets

    try:
        settings = load_settings(env_file)
        # The other sections are read later by the composition root; check them now too.
        load_acd_settings()
        load_section(AgentSettings, "CTI_AGENT_")
        load_section(JobSettings, "CTI_JOBS_")
        load_section(ConfirmationSettings, "CTI_CONFIRM_")
        load_scoresheets(load_section(RecordingSettings, "CTI_RECORDINGS_").scoresheets_file)
        return settings
    except SettingsError as exc:
        typer.echo(f"cti: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(env_file: EnvFile = None) -> None:
    """Run the AMI client, the FastAGI server and the HTTP API until SIGTERM/SIGINT."""
    from cti.app import StartupError
    from cti.app import serve as serve_async
    from cti.logging import setup_logging
    from ivr.fastagi import AgiError

    settings = _settings(env_file)
    setup_logging(settings.log_level)
    try:
        asyncio.run(serve_async(settings))
    except (StartupError, AgiError) as exc:
        typer.echo(f"cti: {exc}", err=True)
        raise typer.Exit(1) from None


@db_app.command("upgrade")
def db_upgrade(env_file: EnvFile = None) -> None:
    """Bring the database schema to the newest migration."""
    from cti.db.migrate import upgrade

    settings = _settings(env_file)
    upgrade(settings.effective_database_url)
    typer.echo("database is up to date")


T = TypeVar("T")


def _in_transaction(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], migrate: bool = True
) -> T:
    """Run ``work`` in one transaction on the configured database, then dispose of it."""

    async def run() -> T:
        from cti.db.engine import create_engine, session_factory
        from cti.db.migrate import upgrade_async

        if migrate:
            await upgrade_async(settings.effective_database_url)
        engine = create_engine(settings.effective_database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="who uses it, e.g. shop-a")],
    scope: Annotated[list[str], typer.Option("--scope", help="repeat for several scopes")],
    agent: Annotated[
        str | None, typer.Option("--agent", help="agent extension, for scope 'agent'")
    ] = None,
    shop: Annotated[
        str | None,
        typer.Option("--shop", help="a shop backend's token: that shop's orders only"),
    ] = None,
    all_shops: Annotated[
        bool,
        typer.Option("--all-shops", help="an operator's token: every shop's orders"),
    ] = False,
    env_file: EnvFile = None,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    from cti.auth.scopes import SHOP_SCOPES
    from cti.auth.tokens import TokenError, create_token
    from cti.clock import SYSTEM_CLOCK

    if shop is not None and all_shops:
        typer.echo("cti: give --shop or --all-shops, not both", err=True)
        raise typer.Exit(2)
    if shop is None and not all_shops and SHOP_SCOPES & set(scope):
        # An unbound shop scope reads and writes every shop's orders: never by default.
        typer.echo(
            f"cti: scope {', '.join(sorted(SHOP_SCOPES & set(scope)))} needs --shop SHOP "
            "(a shop backend: that shop's orders only) or --all-shops (an operator's tool)",
            err=True,
        )
        raise typer.Exit(2)
    settings = _settings(env_file)

    async def create(session: AsyncSession) -> str:
        issued = await create_token(session, name, scope, agent, now=SYSTEM_CLOCK.now(), shop=shop)
        return issued.token

    try:
        token = _in_transaction(settings, create, migrate=True)
    except TokenError as exc:
        typer.echo(f"cti: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(token)


@token_app.command("list")
def token_list(env_file: EnvFile = None) -> None:
    """List tokens (never their secrets)."""
    from cti.auth.tokens import list_tokens

    async def rows(session: AsyncSession) -> list[str]:
        return [
            f"{r.id}\t{r.prefix}\t{r.name}\t{','.join(r.scopes)}\t"
            f"{r.agent_extension or '-'}\t{r.shop or '-'}\t"
            f"{'revoked' if r.revoked_at else 'active'}\t"
            # Kept to the minute (written at most once a minute per token).
            f"{r.last_used_at.strftime('%Y-%m-%dT%H:%MZ') if r.last_used_at else 'never'}"
            for r in await list_tokens(session)
        ]

    lines = _in_transaction(_settings(env_file), rows)
    typer.echo("id\tprefix\tname\tscopes\tagent\tshop\tstate\tlast_used")
    for line in lines:
        typer.echo(line)


@token_app.command("revoke")
def token_revoke(
    key: Annotated[str, typer.Argument(help="token id or prefix")], env_file: EnvFile = None
) -> None:
    """Revoke a token by id or prefix."""
    from cti.auth.tokens import TokenError, revoke_token
    from cti.clock import SYSTEM_CLOCK

    async def revoke(session: AsyncSession) -> str:
        return (await revoke_token(session, key, now=SYSTEM_CLOCK.now())).name

    try:
        name = _in_transaction(_settings(env_file), revoke)
    except TokenError as exc:
        typer.echo(f"cti: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked token {name!r}")


class JobStatusOption(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    dead = "dead"


@jobs_app.command("list")
def jobs_list(
    status: Annotated[
        JobStatusOption | None, typer.Option("--status", help="only jobs in this state")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="only jobs of this kind")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per job")] = False,
    env_file: EnvFile = None,
) -> None:
    """List jobs, newest first; a failed job shows its last error."""
    import json

    from cti.jobs.models import JobStatus
    from cti.jobs.service import list_jobs
    from cti.jobs.spool import spool_dir, spooled_count

    settings = _settings(env_file)
    wanted = JobStatus(status.value) if status is not None else None

    async def rows(session: AsyncSession) -> list[dict[str, Any]]:
        found = await list_jobs(session, status=wanted, kind=kind, limit=limit)
        return [_job_row(job) for job in found]

    jobs = _in_transaction(settings, rows)
    if as_json:
        for row in jobs:
            typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        typer.echo("id\tkind\tstatus\tattempts\trun_after\tkey\tlast_error")
        for row in jobs:
            typer.echo(
                f"{row['id']}\t{row['kind']}\t{row['status']}\t"
                f"{row['attempts']}/{row['max_attempts']}\t{row['run_after']}\t"
                f"{row['key']}\t{row['last_error'] or '-'}"
            )
    waiting = spooled_count(spool_dir(settings.data_dir))
    if waiting:
        typer.echo(
            f"{waiting} job(s) wait in {spool_dir(settings.data_dir)} for the database "
            "(a running service moves them in)",
            err=True,
        )


def _job_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "key": job.key,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_after": job.run_after.isoformat(timespec="seconds"),
        "lease_owner": job.lease_owner,
        "lease_expires_at": (
            job.lease_expires_at.isoformat(timespec="seconds") if job.lease_expires_at else None
        ),
        "last_error": job.last_error,
        "created_at": job.created_at.isoformat(timespec="seconds"),
        "updated_at": job.updated_at.isoformat(timespec="seconds"),
        "payload": job.payload,
    }


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[int, typer.Argument(help="id of a dead job")], env_file: EnvFile = None
) -> None:
    """Give a dead job a fresh set of attempts, due now (once its cause is fixed)."""
    from cti.clock import SYSTEM_CLOCK
    from cti.jobs.service import requeue

    async def retry(session: AsyncSession) -> bool:
        return await requeue(session, job_id=job_id, now=SYSTEM_CLOCK.now()) is not None

    if not _in_transaction(_settings(env_file), retry):
        typer.echo(f"cti: no dead job {job_id}", err=True)
        raise typer.Exit(2)
    typer.echo(f"job {job_id} queued again")


@recordings_app.command("check")
def recordings_check(
    repair: Annotated[
        bool, typer.Option("--repair", help="catalog unlisted files, mark rows without a file")
    ] = False,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0, help="seconds a file must be unchanged to be judged"),
    ] = 900.0,
    env_file: EnvFile = None,
) -> None:
    """Compare the recordings root with the catalog; report (and repair) orphans.

    Exits 0 when everything matches (or was repaired), 1 when orphans remain.
    """
    from datetime import UTC, datetime

    from cti.calls.service import get_call
    from cti.clock import SYSTEM_CLOCK
    from cti.container import phone_normalizer
    from cti.db.engine import create_engine, session_factory
    from cti.db.migrate import upgrade_async
    from cti.recordings import check
    from cti.recordings.config import RecordingSettings
    from cti.recordings.context import RecordingContext

    settings = _settings(env_file)
    try:
        recording_settings = load_section(RecordingSettings, "CTI_RECORDINGS_")
    except SettingsError as exc:
        typer.echo(f"cti: {exc}", err=True)
        raise typer.Exit(2) from None
    ctx = RecordingContext.build(recording_settings, settings.recordings_root, settings.data_dir)
    root = ctx.store.local_root
    if not root.is_dir():
        typer.echo(f"cti: recordings root {root} is not a directory", err=True)
        raise typer.Exit(2)

    async def run() -> tuple[check.CheckReport, check.RepairResult | None]:
        await upgrade_async(settings.effective_database_url)
        engine = create_engine(settings.effective_database_url)
        try:
            sessions = session_factory(engine)
            async with sessions() as session:
                report = await check.scan(session, ctx, now=SYSTEM_CLOCK.time(), grace_s=grace)
            if not repair or report.clean:
                return report, None
            fixed = await check.repair(
                sessions,
                ctx,
                report,
                lookup=get_call,
                phones=phone_normalizer(settings),
                now=datetime.now(UTC),
            )
            return report, fixed
        finally:
            await engine.dispose()

    report, fixed = asyncio.run(run())
    typer.echo(
        f"recordings root {root}: {report.files_seen} recording file(s), "
        f"{report.rows_seen} catalog row(s), {report.skipped} file(s) not judged "
        "(recent, still open, or with a catalog job on its way)"
    )
    for found in report.unlisted:
        typer.echo(f"file without a row: {found.relative} ({found.size} bytes)")
    for left in report.leftover:
        typer.echo(f"leftover file: {left.file.relative} ({left.why})")
    for row in report.missing:
        typer.echo(f"row without its file: {row.public_id} {row.path}")
    for row in report.returned:
        typer.echo(f"file back for a row marked missing: {row.public_id} {row.path}")
    if report.clean:
        typer.echo("no orphans")
        raise typer.Exit(0)
    if fixed is None:
        typer.echo("orphans found; `cti recordings check --repair` fixes them")
        raise typer.Exit(1)
    for line in fixed.done:
        typer.echo(f"repaired: {line}")
    for line in fixed.failed:
        typer.echo(f"NOT repaired: {line}", err=True)
    raise typer.Exit(1 if fixed.failed else 0)


@app.command("record-trace")
def record_trace(
    out: Annotated[Path, typer.Argument(help="file to write the raw AMI byte stream to")],
    env_file: EnvFile = None,
) -> None:
    """Write every AMI byte received after login to OUT until Ctrl-C / SIGTERM."""
    import signal

    from cti.ami.recorder import record_trace as record

    settings = _settings(env_file)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await record(settings, out, stop)

    from cti.ami.protocol import AmiError

    try:
        written = asyncio.run(run())
    except (OSError, AmiError) as exc:
        typer.echo(f"cti: recording stopped: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {written} bytes to {out}", err=True)


@app.command()
def replay(
    trace: Annotated[Path, typer.Argument(help="a trace written by cti record-trace")],
    json_lines: Annotated[bool, typer.Option("--json", help="one JSON object per call")] = False,
) -> None:
    """Feed a recorded AMI trace through the parser and tracker; print every ended call."""
    from cti.tracking.replay import run_replay

    if not trace.is_file():
        typer.echo(f"cti: no such trace file {trace}", err=True)
        raise typer.Exit(2)
    raise typer.Exit(run_replay(trace, sys.stdout, sys.stderr, as_json=json_lines))


@orders_app.command("import")
def orders_import(
    file: Annotated[Path, typer.Argument(help="NDJSON file: one order (with order_id) per line")],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=10_000)] = 1000,
    env_file: EnvFile = None,
) -> None:
    """Import orders; bad lines are printed with their number and reason, good ones kept.

    Exits 1 when some lines were rejected, 0 when all were imported.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from cti.container import phone_normalizer
    from cti.orders.imports import OrderImport
    from cti.orders.schemas import ImportReport

    if not file.is_file():
        typer.echo(f"cti: no such file {file}", err=True)
        raise typer.Exit(2)
    settings = _settings(env_file)
    total = file.stat().st_size

    async def run(progress: Progress) -> ImportReport:
        from cti.db.engine import create_engine, session_factory
        from cti.db.migrate import upgrade_async

        await upgrade_async(settings.effective_database_url)
        engine = create_engine(settings.effective_database_url)
        task = progress.add_task("orders", total=total)
        read = 0

        def show(report: ImportReport) -> None:
            progress.update(
                task,
                completed=read,
                description=f"{report.imported} imported, {report.rejected} rejected",
            )

        job = OrderImport(session_factory(engine), phone_normalizer(settings), batch_size, show)

        async def lines() -> AsyncIterator[tuple[int, bytes]]:
            nonlocal read
            with file.open("rb") as fh:
                for lineno, raw in enumerate(fh, start=1):
                    read += len(raw)
                    yield lineno, raw.rstrip(b"\r\n")

        try:
            report = await job.run(lines())
        finally:
            await engine.dispose()
        progress.update(task, completed=total)
        return report

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        report = asyncio.run(run(progress))
    for rej in report.rejected_lines:
        typer.echo(f"line {rej.line}: {rej.reason}", err=True)
    if report.rejected_lines_truncated:
        typer.echo(f"... {report.rejected - len(report.rejected_lines)} more", err=True)
    typer.echo(
        f"imported {report.imported} of {report.lines} lines, "
        f"{report.rejected} rejected, {report.skipped_stale} older than stored"
    )
    raise typer.Exit(1 if report.rejected else 0)


def main() -> None:
    app()
