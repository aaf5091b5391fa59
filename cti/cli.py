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
shop_app = typer.Typer(
    help="Shops: webhook, signing secret, calling window, limits.", no_args_is_help=True
)
app.add_typer(shop_app, name="shop")
dnc_app = typer.Typer(help="The do-not-call list.", no_args_is_help=True)
app.add_typer(dnc_app, name="dnc")

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
    from cti.stats.config import StatsSettings
    from cti.webhooks.config import WebhookSettings

    try:
        settings = load_settings(env_file)
        # The other sections are read later by the composition root; check them now too.
        load_acd_settings()
        load_section(AgentSettings, "CTI_AGENT_")
        load_section(JobSettings, "CTI_JOBS_")
        load_section(ConfirmationSettings, "CTI_CONFIRM_")
        load_section(WebhookSettings, "CTI_WEBHOOKS_")
        load_section(StatsSettings, "CTI_STATS_")
        load_scoresheets(load_section(RecordingSettings, "CTI_RECORDINGS_").scoresheets_file)
        return settings
    except SettingsError as exc:
        typer.echo(f"cti: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(env_file: EnvFile = None) -> None:
    """Run the AMI client, the FastAGI server and the HTTP API until SIGTERM/SIGINT."""
    from cti.app import StartupError, event_loop_factory
    from cti.app import serve as serve_async
    from cti.logging import setup_logging
    from ivr.fastagi import AgiError

    settings = _settings(env_file)
    setup_logging(settings.log_level)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory(settings.event_loop)) as runner:
            runner.run(serve_async(settings))
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
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="write the finished calls (and agents' state changes) into the configured "
            "database as call records; storing a trace twice changes nothing",
        ),
    ] = False,
    env_file: EnvFile = None,
) -> None:
    """Feed a recorded AMI trace through the parser and tracker; print every ended call."""
    from cti.tracking.replay import run_replay

    if not trace.is_file():
        typer.echo(f"cti: no such trace file {trace}", err=True)
        raise typer.Exit(2)
    if not store:
        raise typer.Exit(run_replay(trace, sys.stdout, sys.stderr, as_json=json_lines))
    raise typer.Exit(_replay_store(trace, _settings(env_file)))


def _replay_store(trace: Path, settings: Settings) -> int:
    from cti.agents.config import AgentSettings
    from cti.stats.backfill import read_trace, store_trace
    from cti.stats.config import StatsSettings

    agent_settings = load_section(AgentSettings, "CTI_AGENT_")
    rules = load_section(StatsSettings, "CTI_STATS_").rules(settings.timezone)
    try:
        contents = read_trace(trace, default_wrapup_s=agent_settings.wrapup_s)
    except OSError as exc:
        typer.echo(f"cti replay: cannot read {trace}: {exc.strerror or exc}", err=True)
        return 2

    async def run() -> int:
        from cti.db.engine import create_engine, session_factory
        from cti.db.migrate import upgrade_async

        await upgrade_async(settings.effective_database_url)
        engine = create_engine(settings.effective_database_url)
        try:
            return await store_trace(session_factory(engine), contents, rules)
        finally:
            await engine.dispose()

    written = asyncio.run(run())
    typer.echo(
        f"stored {written} new of {len(contents.calls)} calls from {trace} "
        f"({len(contents.states)} agent state changes)"
    )
    if contents.error is not None:
        typer.echo(f"cti replay: {trace}: {contents.error} (stored the calls before it)", err=True)
        return 2
    return 0


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


# --- shops and the do-not-call list -----------------------------------------------------

ShopArg = Annotated[str, typer.Argument(help="the shop's id (what its tokens are bound to)")]
NameOpt = Annotated[str | None, typer.Option("--name", help="a display name")]
WebhookOpt = Annotated[
    str | None, typer.Option("--webhook-url", help="https://... where results are POSTed")
]
WindowStartOpt = Annotated[str | None, typer.Option("--window-start", help="HH:MM, local")]
WindowEndOpt = Annotated[str | None, typer.Option("--window-end", help="HH:MM, local")]
TimezoneOpt = Annotated[str | None, typer.Option("--timezone", help="e.g. Asia/Shanghai")]
ConcurrentOpt = Annotated[
    int | None, typer.Option("--max-concurrent", help="calls at once for this shop (1-100)")
]
CallerIdOpt = Annotated[
    str | None, typer.Option("--caller-id", help="the number customers see, e.g. 4008001234")
]


def _shop_write(
    settings: Settings, shop: str, given: dict[str, Any], *, create: bool
) -> dict[str, Any]:
    """Create or change a shop as ``PUT /api/v1/shops/{shop}`` does; exits 2 on bad input."""
    from pydantic import ValidationError

    from cti.clock import SYSTEM_CLOCK
    from cti.errors import DomainError
    from cti.orders.service import describe
    from cti.shops.schemas import ShopIn
    from cti.shops.service import get_shop, put_shop, shop_out
    from cti.webhooks.config import WebhookSettings

    try:
        data = ShopIn.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        typer.echo(f"cti: {describe(exc)}", err=True)
        raise typer.Exit(2) from None
    allow_private = load_section(WebhookSettings, "CTI_WEBHOOKS_").allow_private

    async def write(session: AsyncSession) -> dict[str, Any]:
        exists = await get_shop(session, shop) is not None
        if exists == create:
            raise DomainError(
                f"shop {shop!r} exists already; change it with cti shop set {shop}"
                if create
                else f"no shop {shop!r}; add it with cti shop add {shop}"
            )
        now = SYSTEM_CLOCK.now()
        written = await put_shop(
            session,
            shop=shop,
            data=data,
            may_create=create,
            allow_private_webhooks=allow_private,
            now=now,
        )
        return {**shop_out(written.shop, now).model_dump(mode="json"), "secret": written.secret}

    try:
        return _in_transaction(settings, write)
    except DomainError as exc:
        typer.echo(f"cti: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _echo_shop(fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name != "secret":
            typer.echo(f"{name}\t{'-' if value is None else value}")


def _shop_command(*, create: bool) -> Callable[..., None]:
    """``cti shop add`` (``create``) or ``cti shop set``: the same options, one list."""

    def command(
        shop: ShopArg,
        name: NameOpt = None,
        webhook_url: WebhookOpt = None,
        window_start: WindowStartOpt = None,
        window_end: WindowEndOpt = None,
        timezone: TimezoneOpt = None,
        max_concurrent: ConcurrentOpt = None,
        caller_id: CallerIdOpt = None,
        env_file: EnvFile = None,
    ) -> None:
        given = {
            "name": name,
            "webhook_url": webhook_url,
            "window_start": window_start,
            "window_end": window_end,
            "timezone": timezone,
            "max_concurrent": max_concurrent,
            "caller_id": caller_id,
        }
        fields = _shop_write(_settings(env_file), shop, given, create=create)
        _echo_shop(fields)
        if create:
            typer.echo(f"secret\t{fields['secret']}")
            typer.echo("(the secret is shown this once; keep it in the shop backend)", err=True)

    return command


shop_app.command("add", help="Add a shop and print its webhook signing secret, once.")(
    _shop_command(create=True)
)
shop_app.command("set", help="Change the settings given; the others keep their value.")(
    _shop_command(create=False)
)


@shop_app.command("show")
def shop_show(shop: ShopArg, env_file: EnvFile = None) -> None:
    """A shop's settings (never its secret)."""
    from cti.clock import SYSTEM_CLOCK
    from cti.shops.service import get_shop, shop_out

    async def read(session: AsyncSession) -> dict[str, Any] | None:
        row = await get_shop(session, shop)
        return None if row is None else shop_out(row, SYSTEM_CLOCK.now()).model_dump(mode="json")

    fields = _in_transaction(_settings(env_file), read)
    if fields is None:
        typer.echo(f"cti: no shop {shop!r}", err=True)
        raise typer.Exit(2)
    _echo_shop(fields)


@shop_app.command("list")
def shop_list(env_file: EnvFile = None) -> None:
    """Every shop (never their secrets)."""
    from cti.shops.service import list_shops

    async def rows(session: AsyncSession) -> list[str]:
        return [
            f"{r.id}\t{r.name or '-'}\t{r.window_start}-{r.window_end}\t{r.timezone}\t"
            f"{r.max_concurrent}\t{r.caller_id or '-'}\t{r.webhook_url or '-'}"
            for r in await list_shops(session)
        ]

    lines = _in_transaction(_settings(env_file), rows)
    typer.echo("shop\tname\twindow\ttimezone\tmax_concurrent\tcaller_id\twebhook_url")
    for line in lines:
        typer.echo(line)


@shop_app.command("rotate-secret")
def shop_rotate_secret(shop: ShopArg, env_file: EnvFile = None) -> None:
    """A new webhook secret, printed once; the old one signs on for the grace period."""
    from datetime import timedelta

    from cti.clock import SYSTEM_CLOCK
    from cti.confirmations.config import ConfirmationSettings
    from cti.errors import DomainError
    from cti.shops.service import rotate_secret

    settings = _settings(env_file)
    grace = timedelta(hours=load_section(ConfirmationSettings, "CTI_CONFIRM_").secret_grace_h)

    async def rotate(session: AsyncSession) -> tuple[str, str]:
        row, secret = await rotate_secret(session, shop=shop, grace=grace, now=SYSTEM_CLOCK.now())
        until = row.previous_until.isoformat(timespec="seconds") if row.previous_until else "-"
        return secret, until

    try:
        secret, until = _in_transaction(settings, rotate)
    except DomainError as exc:
        typer.echo(f"cti: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(secret)
    typer.echo(f"(shown this once; the previous secret stays valid until {until})", err=True)


DncShopOpt = Annotated[
    str,
    typer.Option("--shop", help="the shop the entry is for; left out: every shop"),
]


def _dnc_number(settings: Settings, phone: str) -> str:
    from cti.container import phone_normalizer

    e164 = phone_normalizer(settings).e164(phone)
    if e164 is None:
        typer.echo(f"cti: {phone!r} is not a valid phone number", err=True)
        raise typer.Exit(2)
    return e164


def _dnc_shop(shop: str) -> str:
    from cti.shops.rules import SHOP_ID_HINT, SHOP_ID_RE

    if shop and not SHOP_ID_RE.fullmatch(shop):
        typer.echo(f"cti: --shop: {SHOP_ID_HINT}", err=True)
        raise typer.Exit(2)
    return shop


@dnc_app.command("add")
def dnc_add(
    phone: Annotated[str, typer.Argument(help="the number, in any form")],
    shop: DncShopOpt = "",
    reason: Annotated[str, typer.Option("--reason", help="why, for the record")] = "",
    env_file: EnvFile = None,
) -> None:
    """Put a number on the do-not-call list (of one shop, or of every shop)."""
    from pydantic import ValidationError

    from cti.clock import SYSTEM_CLOCK
    from cti.orders.service import describe
    from cti.shops.schemas import DoNotCallIn
    from cti.shops.service import put_do_not_call

    settings = _settings(env_file)
    owner = _dnc_shop(shop)
    e164 = _dnc_number(settings, phone)
    try:
        data = DoNotCallIn(reason=reason)
    except ValidationError as exc:
        typer.echo(f"cti: {describe(exc)}", err=True)
        raise typer.Exit(2) from None

    async def add(session: AsyncSession) -> bool:
        _, created = await put_do_not_call(
            session, phone=e164, shop=owner, reason=data.reason, now=SYSTEM_CLOCK.now()
        )
        return created

    created = _in_transaction(settings, add)
    where = f"shop {owner}" if owner else "every shop"
    typer.echo(f"{e164} {'added to' if created else 'already on'} the do-not-call list of {where}")


@dnc_app.command("remove")
def dnc_remove(
    phone: Annotated[str, typer.Argument(help="the number, in any form")],
    shop: DncShopOpt = "",
    env_file: EnvFile = None,
) -> None:
    """Take a number off the do-not-call list (of one shop, or of every shop)."""
    from cti.shops.service import remove_do_not_call

    settings = _settings(env_file)
    owner = _dnc_shop(shop)
    e164 = _dnc_number(settings, phone)

    async def remove(session: AsyncSession) -> bool:
        return await remove_do_not_call(session, phone=e164, shop=owner)

    where = f"shop {owner}" if owner else "every shop"
    if not _in_transaction(settings, remove):
        typer.echo(f"cti: {e164} is not on the do-not-call list of {where}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{e164} removed from the do-not-call list of {where}")


@dnc_app.command("import")
def dnc_import(
    file: Annotated[
        Path, typer.Argument(help="one number per line, optionally ',reason'; or NDJSON")
    ],
    shop: DncShopOpt = "",
    env_file: EnvFile = None,
) -> None:
    """Import numbers; bad lines are printed with their number and reason, good ones kept.

    Exits 1 when some lines were rejected, 0 when all were imported.
    """
    from cti.container import phone_normalizer
    from cti.shops.imports import DoNotCallImport, DoNotCallReport

    if not file.is_file():
        typer.echo(f"cti: no such file {file}", err=True)
        raise typer.Exit(2)
    settings = _settings(env_file)
    owner = _dnc_shop(shop)

    async def run() -> DoNotCallReport:
        from cti.db.engine import create_engine, session_factory
        from cti.db.migrate import upgrade_async

        await upgrade_async(settings.effective_database_url)
        engine = create_engine(settings.effective_database_url)
        job = DoNotCallImport(session_factory(engine), phone_normalizer(settings), shop=owner)

        async def lines() -> AsyncIterator[tuple[int, bytes]]:
            with file.open("rb") as fh:
                for lineno, raw in enumerate(fh, start=1):
                    yield lineno, raw.rstrip(b"\r\n")

        try:
            return await job.run(lines())
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    for rej in report.rejected_lines:
        typer.echo(f"line {rej.line}: {rej.reason}", err=True)
    if report.rejected_lines_truncated:
        typer.echo(f"... {report.rejected - len(report.rejected_lines)} more", err=True)
    typer.echo(f"imported {report.imported} of {report.lines} lines, {report.rejected} rejected")
    raise typer.Exit(1 if report.rejected else 0)


# --- staffing (Erlang C) ------------------------------------------------------------------


@app.command()
def staffing(
    aht: Annotated[
        float, typer.Option("--aht", help="average handle time in seconds (talk + wrap-up)")
    ],
    target_sl: Annotated[
        float, typer.Option("--target-sl", help="share answered within the threshold, e.g. 0.8")
    ],
    threshold: Annotated[float, typer.Option("--threshold", help="seconds, e.g. 20")],
    calls_per_hour: Annotated[
        float | None, typer.Option("--calls-per-hour", help="arrival rate, calls per hour")
    ] = None,
    calls: Annotated[
        float | None,
        typer.Option("--calls", help="calls counted in one interval of --interval-min minutes"),
    ] = None,
    interval_min: Annotated[
        float | None,
        typer.Option("--interval-min", help="the interval --calls were counted in (default 60)"),
    ] = None,
    max_occupancy: Annotated[
        float, typer.Option("--max-occupancy", help="cap on agents' busy share, e.g. 0.85")
    ] = 0.85,
    shrinkage: Annotated[
        float, typer.Option("--shrinkage", help="share of paid time off the phones, e.g. 0.3")
    ] = 0.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="print what GET .../staffing returns")
    ] = False,
) -> None:
    """Agents needed for a service level target (Erlang C), with n-1, n and n+1 agents."""
    import json

    from cti.stats.erlang import StaffingInput, StaffingInputError, staffing_json
    from cti.stats.erlang import calls_per_hour as hourly
    from cti.stats.erlang import staffing as compute

    if (calls_per_hour is None) == (calls is None):
        typer.echo("cti: give --calls-per-hour, or --calls with --interval-min", err=True)
        raise typer.Exit(2)
    if calls_per_hour is not None and interval_min is not None:
        typer.echo(
            "cti: --calls-per-hour is already a rate; --interval-min goes with --calls "
            "(the calls counted in that interval)",
            err=True,
        )
        raise typer.Exit(2)
    try:
        rate = (
            calls_per_hour
            if calls_per_hour is not None
            else hourly(calls or 0.0, 60.0 if interval_min is None else interval_min)
        )
        result = compute(
            StaffingInput(
                calls_per_hour=rate,
                aht_s=aht,
                target_sl=target_sl,
                threshold_s=threshold,
                max_occupancy=max_occupancy,
                shrinkage=shrinkage,
            )
        )
    except StaffingInputError as exc:
        typer.echo(f"cti: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(staffing_json(result), ensure_ascii=False))
        return
    for line in _staffing_lines(staffing_json(result)):
        typer.echo(line)


def _staffing_lines(answer: dict[str, Any]) -> list[str]:
    """The human table: the same figures as --json, rounded for reading."""
    why = {"service_level": "the service level", "occupancy": "the occupancy cap"}
    lines = [
        f"traffic {answer['traffic_erlang']:.2f} Erlang "
        f"({answer['calls_per_hour']:g} calls/hour x AHT {answer['aht_s']:g} s); "
        f"target {answer['target_sl']:.0%} answered within {answer['threshold_s']:g} s, "
        f"occupancy at most {answer['max_occupancy']:.0%}",
        f"agents needed: {answer['agents']} (set by {why[answer['limited_by']]}); "
        f"to schedule with {answer['shrinkage']:.0%} shrinkage: {answer['scheduled_agents']}",
        "",
        f"  {'agents':>6}  {'P(wait)':>7}  {'service level':>13}  {'ASA':>9}  {'occupancy':>9}",
    ]
    for row in answer["rows"]:
        mark = ">" if row["agents"] == answer["agents"] else " "
        asa = "endless" if row["asa_s"] is None else f"{row['asa_s']:.1f} s"
        lines.append(
            f"{mark} {row['agents']:>6}  {row['probability_of_waiting']:>7.3f}  "
            f"{row['service_level']:>13.3f}  {asa:>9}  {row['occupancy']:>9.1%}"
        )
    if any(row["asa_s"] is None for row in answer["rows"]):
        lines.append("(endless: no more agents than Erlang of traffic, the queue only grows)")
    return lines


# --- statistics -----------------------------------------------------------------------


@app.command()
def stats(
    queue: Annotated[str, typer.Option("--queue", help="queue name, e.g. hotline")],
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help="ISO date/time; without a time zone it is the business time zone's",
        ),
    ],
    end: Annotated[str, typer.Option("--to", help="end of the period (excluded), as --from")],
    interval: Annotated[str, typer.Option("--interval", help="15m, 1h or 1d")] = "1h",
    as_json: Annotated[
        bool, typer.Option("--json", help="print what GET /api/v1/queues/{name}/stats returns")
    ] = False,
    env_file: EnvFile = None,
) -> None:
    """A queue's statistics per interval: offered, answered, abandoned, SL, ASA, AHT, agents."""
    import json
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cti.clock import SYSTEM_CLOCK
    from cti.errors import InvalidInput
    from cti.stats.config import StatsSettings
    from cti.stats.definitions import Interval
    from cti.stats.service import StatsRequest, queue_stats

    settings = _settings(env_file)
    tz = ZoneInfo(settings.timezone)

    def instant(value: str, option: str) -> datetime:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            typer.echo(f"cti: {option} {value!r} is not an ISO date/time", err=True)
            raise typer.Exit(2) from None
        return at if at.tzinfo is not None else at.replace(tzinfo=tz)

    try:
        bucket = Interval(interval)
    except ValueError:
        typer.echo("cti: --interval must be 15m, 1h or 1d", err=True)
        raise typer.Exit(2) from None
    request = StatsRequest(
        queue=queue, start=instant(start, "--from"), end=instant(end, "--to"), interval=bucket
    )
    stats_settings = load_section(StatsSettings, "CTI_STATS_")

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await queue_stats(
            session,
            request,
            settings=stats_settings,
            timezone=settings.timezone,
            now=SYSTEM_CLOCK.now(),
        )

    try:
        body = _in_transaction(settings, work)
    except InvalidInput as exc:
        typer.echo(f"cti: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        # Through the route's response model: the same keys, order and values as the API.
        from cti.stats.schemas import QueueStatsOut

        out = QueueStatsOut.model_validate(body).model_dump(mode="json", by_alias=True)
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    for line in _stats_lines(body):
        typer.echo(line)


def _stats_lines(body: dict[str, Any]) -> list[str]:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"

    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}s"

    lines = [
        f"queue {body['queue']} from {body['from']} to {body['to']} ({body['timezone']}); "
        f"service level within {body['sl_threshold_s']:g} s, short abandon within "
        f"{body['short_abandon_s']:g} s",
        f"{'interval':<25} {'offered':>7} {'answ':>5} {'aband':>5} {'short':>5} {'t/o':>4} "
        f"{'vm':>3} {'xfer':>4} {'rate':>5} {'SL/ans':>6} {'SL/off':>6} {'ASA':>5} "
        f"{'AHT':>5} {'max':>5}",
    ]
    rows = [*body["intervals"], {"start": "total", **body["total"]}]
    for r in rows:
        if r is not rows[-1] and not r["offered"] and not r["voicemails"]:
            continue
        lines.append(
            f"{r['start'][:25]:<25} {r['offered']:>7} {r['answered']:>5} {r['abandoned']:>5} "
            f"{r['short_abandons']:>5} {r['timeouts']:>4} {r['voicemails']:>3} "
            f"{r['transfers']:>4} {pct(r['answer_rate']):>5} "
            f"{pct(r['service_level_of_answered']):>6} {pct(r['service_level_of_offered']):>6} "
            f"{sec(r['asa_s']):>5} {sec(r['aht_s']):>5} {sec(r['longest_wait_s']):>5}"
        )
    if body["agents"]:
        lines.append("")
        lines.append(
            f"{'agent':<16} {'calls':>5} {'talk':>7} {'RNA':>4} {'logged in':>9} "
            f"{'paused':>7} {'occupancy':>9}  pauses"
        )
        for a in body["agents"]:
            pauses = ", ".join(f"{k or '-'} {v:.0f}s" for k, v in a["pause_by_reason"].items())
            lines.append(
                f"{a['agent']:<16} {a['calls']:>5} {sec(a['talk_s']):>7} "
                f"{a['ring_no_answer']:>4} {sec(a['logged_in_s']):>9} {sec(a['paused_s']):>7} "
                f"{pct(a['occupancy']):>9}  {pauses}"
            )
    return lines


def main() -> None:
    app()
