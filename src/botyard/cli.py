"""The `botyard` command: serve, migrate, seed the demo, and manage organizations, users and keys.

Secrets go to stdout alone (so `KEY=$(botyard keys create …)` works); everything else to stderr.
Bad input exits non-zero with one line that says what is wrong.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from typer.core import TyperGroup

from botyard.api_keys import service as keys
from botyard.api_keys.models import ApiKey
from botyard.audit.service import CLI_ACTOR
from botyard.bots.models import Bot
from botyard.core import clock
from botyard.core.config import Settings, get_settings
from botyard.core.database import create_engine, create_sessionmaker
from botyard.core.durations import parse_duration
from botyard.core.errors import APIError
from botyard.core.migrate import current_revision, upgrade
from botyard.core.outage import describe, is_database_unavailable, masked_url
from botyard.core.secretbox import load_secret_box
from botyard.core.timefmt import rfc3339
from botyard.organizations import service as orgs
from botyard.organizations.models import Plan
from botyard.users import service as users
from botyard.users.passwords import MIN_PASSWORD_LENGTH
from botyard.widget import service as widget
from botyard.widget.models import PublishableKey
from botyard.widget.schemas import DEFAULT_KEY_NAME, PublishableKeyOut


class OneLineErrors(TyperGroup):
    """Usage errors (a missing option, a value of the wrong type) as one line on stderr, as the
    contract promises, instead of click's usage box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def invoke() -> Any:
            return super(OneLineErrors, self).main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )

        if not standalone_mode:
            return invoke()
        try:
            result = invoke()
        except typer.TyperException as exc:
            code = int(getattr(exc, "exit_code", 1))
            if type(exc).__name__ == "NoArgsIsHelpError":
                sys.exit(code)  # the help was already printed
            format_message = getattr(exc, "format_message", None)
            text = format_message() if callable(format_message) else str(exc)
            message = " ".join(str(text).split())
            context = getattr(exc, "ctx", None)
            if context is not None:
                message += f" (see '{context.command_path} --help')"
            typer.echo(f"error: {message}", err=True)
            sys.exit(code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        except ValidationError as exc:
            if exc.title != Settings.__name__:
                raise
            typer.echo(f"error: {configuration_problem(exc)}", err=True)
            sys.exit(2)
        sys.exit(result if isinstance(result, int) else 0)


def configuration_problem(exc: ValidationError) -> str:
    """A settings error in one line that names the environment variable to fix."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        variable = f"{Settings.model_config.get('env_prefix', '')}{field}".upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{variable}: {message}")
    return "invalid configuration: " + "; ".join(problems)


app = typer.Typer(
    cls=OneLineErrors,
    help="Botyard: self-hosted chatbots with a developer API.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organizations, plans and rate limits.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
widget_keys_app = typer.Typer(help="Publishable keys of the website widget.", no_args_is_help=True)
app.add_typer(widget_keys_app, name="widget-keys")

T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def info(message: str) -> None:
    typer.echo(message, err=True)


def run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the configured database; API errors become one line."""

    async def main() -> T:
        settings = get_settings()
        engine = create_engine(settings.database_url, timeout=settings.db_timeout)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except APIError as exc:
        fail(exc.message)
    except Exception as exc:
        _fail_if_unreachable(exc)
        raise


MAX_DURATION = timedelta(days=36500)


def _duration(text: str, option: str) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        fail(f"{option}: {exc}", 2)
    except OverflowError:
        value = MAX_DURATION + MAX_DURATION
    if value > MAX_DURATION:
        fail(f"{option}: {text!r} is too long; at most {MAX_DURATION.days} days", 2)
    return value


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max([len(c)] + [len(str(r.get(c) or "")) for r in rows]) for c in columns}
    typer.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        typer.echo("  ".join(str(row.get(c) or "").ljust(widths[c]) for c in columns))


def _fail_if_unreachable(exc: Exception) -> None:
    """An unreachable database is one line naming it (password masked) and exit 2, not a
    traceback; any other failure is left to propagate."""
    if is_database_unavailable(exc):
        url = masked_url(get_settings().database_url)
        fail(f"cannot reach the database {url} ({describe(exc)}); is it running?", 2)


def _listen_on(host: str | None, port: int | None) -> None:
    """Options win over the environment, and the app (every worker too) sees the same values,
    so its links follow the port it really serves on."""
    if host is not None:
        os.environ["BOTYARD_HOST"] = host
    if port is not None:
        os.environ["BOTYARD_PORT"] = str(port)
    get_settings.cache_clear()


def _migrate() -> None:
    settings = get_settings()
    try:
        upgrade(settings.database_url, timeout=settings.db_timeout)
    except Exception as exc:
        _fail_if_unreachable(exc)
        raise


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to listen on [default: BOTYARD_HOST or 127.0.0.1]."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on [default: BOTYARD_PORT or 8000].")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    allow_per_process_limits: Annotated[
        bool,
        typer.Option(
            "--allow-per-process-limits",
            help="Let --workers N run without BOTYARD_REDIS_URL, each worker counting its own "
            "rate limits (so each limit is N times as high).",
        ),
    ] = False,
) -> None:
    """Apply migrations, then serve the API and dashboard."""
    import uvicorn

    _listen_on(host, port)
    settings = get_settings()
    host, port = settings.host, settings.port
    if workers > 1 and not settings.redis_url and not allow_per_process_limits:
        fail(
            f"--workers {workers} without BOTYARD_REDIS_URL would let each worker count rate "
            f"limits on its own, so every limit would be {workers} times too high; set "
            "BOTYARD_REDIS_URL, or pass --allow-per-process-limits to accept that",
            2,
        )
    _migrate()
    info(f"Botyard listening on http://{host}:{port} (API docs at /docs)")
    uvicorn.run(
        "botyard.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http="botyard.http_server:BoundedHttpToolsProtocol",
        ws="none",
        # asyncio's loop accepts every pending connection each turn; uvloop's libuv (1.45 and
        # later) accepts one per turn, and a turn under load is one pass over every ready
        # request, so new connections queued behind one another for seconds.
        loop="asyncio",
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_timeout,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        # Forwarded headers are read by the app, from BOTYARD_TRUSTED_PROXIES only: uvicorn's
        # own default believes them from any local peer.
        proxy_headers=False,
        server_header=False,  # no "server: uvicorn" banner for scanners
        log_level="info",
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the configured database."""
    url = get_settings().database_url
    try:
        before = current_revision(url)
    except Exception as exc:
        _fail_if_unreachable(exc)
        raise
    _migrate()
    after = current_revision(url)
    if before == after:
        info(f"database already at the latest schema ({after}); nothing to do")
    elif before is None:
        info(f"created the schema in a new database (now at {after})")
    else:
        info(f"upgraded the database from {before} to {after}")


@app.command()
def demo(
    reset_password: Annotated[
        bool, typer.Option(help="Set the owner's password back to the demo's own.")
    ] = False,
) -> None:
    """Seed the Acme demo organization (idempotent) and print the owner's login."""
    from botyard.demo import DEMO_PASSWORD_PURPOSE, seed_demo

    _migrate()
    settings = get_settings()
    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
    password = load_secret_box(secret_key, settings.secret_key_file).derive_token(
        DEMO_PASSWORD_PURPOSE
    )
    result = run(lambda session: seed_demo(session, password, reset_password=reset_password))
    verb = "created" if result.created else "already present"
    info(f"Demo organization {result.organization.name} ({result.organization.id}) {verb}.")
    info(f"Log in at {settings.public_url}/dashboard/login")
    info(f"  email:    {result.owner_email}")
    if result.owner_password is None:
        info("  password: changed since the demo set it; `botyard demo --reset-password` sets")
        info("            it back to the demo's own")
    else:
        info(f"  password: {result.owner_password}")


# Organizations ------------------------------------------------------------------------------


@orgs_app.command("create")
def orgs_create(
    name: str,
    plan: Annotated[str, typer.Option(help="free, starter, professional or enterprise.")] = "free",
) -> None:
    """Create an organization and print its id."""

    async def work(session: AsyncSession) -> str:
        org = await orgs.create(session, name, orgs.parse_plan(plan))
        return org.id

    typer.echo(run(work))


@orgs_app.command("list")
def orgs_list(as_json: JsonOption = False) -> None:
    """List organizations with their plan and rate limit."""
    default = get_settings().default_rate_limit

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [
            {
                "id": o.id,
                "name": o.name,
                "plan": o.plan,
                "rate_limit": o.rate_limit or default,
                "created_at": rfc3339(o.created_at),
            }
            for o in await orgs.list_all(session)
        ]

    rows = run(work)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        _print_table(rows, ["id", "name", "plan", "rate_limit", "created_at"])


@orgs_app.command("set-plan")
def orgs_set_plan(org: str, plan: str) -> None:
    """Change an organization's plan; API access follows within a second, without restart."""

    async def work(session: AsyncSession) -> str:
        found = await orgs.get(session, org)
        await orgs.set_plan(session, found, orgs.parse_plan(plan), CLI_ACTOR)
        return f"{found.name} is now on the {found.plan} plan"

    info(run(work))


@orgs_app.command("set-rate-limit")
def orgs_set_rate_limit(
    org: str, limit: Annotated[int, typer.Argument(help="Requests per hour.")]
) -> None:
    """Set an organization's hourly API request limit."""

    async def work(session: AsyncSession) -> str:
        found = await orgs.get(session, org)
        await orgs.set_rate_limit(session, found, limit, CLI_ACTOR)
        return f"{found.name} may now make {limit} requests per hour"

    info(run(work))


# Users --------------------------------------------------------------------------------------


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    line = sys.stdin.readline().rstrip("\n")
    if not line:
        fail(f"pipe a password of at least {MIN_PASSWORD_LENGTH} characters on stdin")
    return line


@users_app.command("create")
def users_create(
    email: str,
    org: Annotated[str, typer.Option(help="Organization id or name.")],
    role: Annotated[str, typer.Option(help="owner, admin or member.")] = "member",
) -> None:
    """Create a user in an organization (password from stdin or a prompt)."""
    try:
        parsed_role = users.parse_role(role)
    except APIError as exc:
        fail(exc.message)
    password = _read_password()

    async def work(session: AsyncSession) -> str:
        found = await orgs.get(session, org)
        user = await users.create_user(session, email, password)
        await users.add_member(session, found, user, parsed_role)
        return user.id

    typer.echo(run(work))


@users_app.command("reset-password")
def users_reset_password(email: str) -> None:
    """Print a one-time link (valid 1 hour) that sets a new password; it ends their sessions."""
    public_url = get_settings().public_url

    async def work(session: AsyncSession) -> str:
        user = await users.find_by_email(session, email)
        if user is None:
            fail(f"no user has the email {email.strip().lower()}")
        _, token = await users.create_password_reset(session, user, created_by=None)
        return users.reset_url(public_url, token)

    link = run(work)
    info(
        "One-time link, valid for 1 hour (an earlier unused link no longer works). "
        "Setting the new password signs the user out everywhere:"
    )
    typer.echo(link)


# Keys ---------------------------------------------------------------------------------------


def _key_row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "hint": key.hint,
        "scopes": key.scopes,
        "status": keys.status_of(key).value,
        "created_at": rfc3339(key.created_at),
        "expires_at": rfc3339(key.expires_at) if key.expires_at else None,
        "last_used_at": rfc3339(key.last_used_at) if key.last_used_at else None,
        "revoked_at": rfc3339(key.revoked_at) if key.revoked_at else None,
    }


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="Organization id or name.")],
    name: Annotated[str, typer.Option(help="A descriptive name, e.g. 'Website Integration'.")],
    scope: Annotated[list[str], typer.Option(help="read, write or admin; repeat for several.")],
    expires_in: Annotated[
        str | None, typer.Option(help="Lifetime such as 90d, 12h, 15m or 90s.")
    ] = None,
) -> None:
    """Create an API key and print it once, alone on stdout."""
    lifetime = _duration(expires_in, "--expires-in") if expires_in else None

    async def work(session: AsyncSession) -> tuple[ApiKey, str, Plan]:
        found = await orgs.get(session, org)
        key, plaintext = await keys.create_key(
            session,
            found,
            name=name,
            scopes=scope,
            actor=CLI_ACTOR,
            expires_at=clock.now() + lifetime if lifetime else None,
        )
        return key, plaintext, Plan(found.plan)

    key, plaintext, plan = run(work)
    info(f"Created {key.id} ({key.name}; scopes {', '.join(key.scopes)}). Store it now: it is")
    info("shown this once and cannot be recovered.")
    if not plan.has_api_access:
        info(
            f"warning: the organization is on the {plan.value} plan, which has no API access: "
            "this key is refused (403) until the plan allows it "
            f"(botyard orgs set-plan {org} professional)"
        )
    typer.echo(plaintext)


@keys_app.command("list")
def keys_list(
    org: Annotated[str, typer.Option(help="Organization id or name.")],
    as_json: JsonOption = False,
) -> None:
    """List an organization's keys (hints only: keys are never stored)."""

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = await orgs.get(session, org)
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page, has_more, cursor = await keys.list_keys(
                session, found.id, limit=100, cursor=cursor
            )
            rows.extend(_key_row(k) for k in page)
            if not has_more:
                return rows

    rows = run(work)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            row["scopes"] = ",".join(row["scopes"])
        _print_table(rows, ["id", "name", "hint", "scopes", "status", "expires_at", "last_used_at"])


async def _key_by_id(session: AsyncSession, key_id: str) -> ApiKey:
    key = await keys.find_key(session, key_id)
    if key is None:
        fail(f"no API key with id {key_id}")
    return key


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key for good; running servers refuse it within a second."""

    async def work(session: AsyncSession) -> ApiKey:
        return await keys.revoke(session, await _key_by_id(session, key_id), CLI_ACTOR)

    key = run(work)
    info(f"Revoked {key.id} ({key.name}) at {rfc3339(key.revoked_at or clock.now())}")


@keys_app.command("rotate")
def keys_rotate(
    key_id: str,
    grace: Annotated[
        str, typer.Option(help="How long the old key keeps working, 0 to 7d (0 = revoke now).")
    ] = "24h",
) -> None:
    """Replace a key with a new one (printed once, alone on stdout)."""
    period = timedelta(0) if grace.strip() == "0" else _duration(grace, "--grace")

    async def work(session: AsyncSession) -> tuple[ApiKey, ApiKey, str]:
        old = await _key_by_id(session, key_id)
        org = await orgs.get(session, old.organization_id)
        new, plaintext = await keys.rotate(session, org, old, CLI_ACTOR, period)
        return old, new, plaintext

    old, new, plaintext = run(work)
    ends = old.revoked_at or old.expires_at
    info(
        f"Rotated {old.id} to {new.id}; the old key stops working at {rfc3339(ends or clock.now())}."
    )
    typer.echo(plaintext)


# Publishable keys ---------------------------------------------------------------------------


async def _bot_by_id(session: AsyncSession, bot_id: str) -> Bot:
    bot = await session.get(Bot, bot_id) if bot_id.isascii() else None
    if bot is None:
        fail(f"no bot with id {bot_id}")
    return bot


@widget_keys_app.command("create")
def widget_keys_create(
    bot: Annotated[str, typer.Option(help="The bot's id (bot_…).")],
    origin: Annotated[
        list[str], typer.Option(help="Where the widget may run, e.g. https://shop.example; repeat.")
    ],
    name: Annotated[str, typer.Option(help="What the key is for.")] = DEFAULT_KEY_NAME,
) -> None:
    """Create a publishable key for a bot's website widget and print it alone on stdout."""

    async def work(session: AsyncSession) -> PublishableKey:
        found = await _bot_by_id(session, bot)
        return await widget.create_key(
            session, found, name=name, allowed_origins=origin, actor=CLI_ACTOR
        )

    key = run(work)
    info(f"Created {key.id} for {key.bot_id}, allowed on {', '.join(key.allowed_origins)}.")
    info("Embed snippet (HOST is this server's public address):")
    info(
        f'<script src="{get_settings().public_url}/widget.js" data-key="{key.key}" async></script>'
    )
    typer.echo(key.key)


@widget_keys_app.command("list")
def widget_keys_list(
    bot: Annotated[str, typer.Option(help="The bot's id (bot_…).")],
    as_json: JsonOption = False,
) -> None:
    """List a bot's publishable keys."""

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        keys = await widget.list_keys(session, await _bot_by_id(session, bot))
        return [PublishableKeyOut.of(k).model_dump(mode="json") for k in keys]

    rows = run(work)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            row["allowed_origins"] = ",".join(row["allowed_origins"])
        _print_table(rows, ["id", "name", "key", "status", "allowed_origins", "created_at"])


@widget_keys_app.command("revoke")
def widget_keys_revoke(key_id: str) -> None:
    """Revoke a publishable key: widgets using it stop within a second."""

    async def work(session: AsyncSession) -> PublishableKey:
        key = await session.get(PublishableKey, key_id) if key_id.isascii() else None
        if key is None:
            fail(f"no publishable key with id {key_id}")
        return await widget.revoke(session, key, CLI_ACTOR)

    key = run(work)
    info(f"Revoked {key.id} ({key.name}) at {rfc3339(key.revoked_at or clock.now())}")


def main() -> None:
    app()
