"""``contrail auth``: sign in, see who you are, manage tokens and grants, read the audit log.

contrail auth login [--token T]            (asks for it, hidden, when not given)
contrail auth logout
contrail auth whoami
contrail auth token create --project P --role R [--domain D] [--principal N] [--name L]
                           [--expires-in 30d]
contrail auth token list [--principal N]
contrail auth token revoke ID
contrail auth grant PRINCIPAL --project P --role R [--domain D]
contrail auth revoke-grant PRINCIPAL --project P --role R [--domain D]
contrail auth audit [--project P] [--action A] [--actor N] [--since 1h]

The token is kept in the CLI's config (``admin.token``, file mode 0600);
``CONTRAIL_TOKEN`` overrides it. A token is printed once, when it is made.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape

from contrail.cli.options import EndpointOption, OutputOption
from contrail.cli.output import (
    CLIError,
    OutputFormat,
    console,
    errors,
    format_time,
    make_table,
    print_document,
    print_listing,
    reported_errors,
)
from contrail.config import (
    CONFIG_ENV,
    TOKEN_ENV,
    Config,
    default_config_path,
    load_config,
    store_token,
)
from contrail.remote import Grant, Identity, Remote, TokenInfo, Unauthenticated
from shared.auth.roles import Role
from shared.events.catalogue import AuditAction

app = typer.Typer(
    help="Sign in, see who you are, manage API tokens and grants, read the audit log.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
ROLES = ", ".join(role.value for role in Role)
TOKEN_COLUMNS = ("ID", "PRINCIPAL", "NAME", "CREATED", "EXPIRES", "LAST USED", "REVOKED")
AUDIT_COLUMNS = ("TIME", "ACTOR", "ACTION", "PROJECT", "DOMAIN", "RESOURCE")


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s``, ``2w``: a whole number and one unit."""
    found = _DURATION.match(text)
    if found is None or int(found.group(1)) == 0:
        units = ", ".join(DURATION_UNITS)
        raise typer.BadParameter(
            f"{text!r} is not a duration: a positive whole number and a unit ({units}), "
            "e.g. 30d, 12h, 45m"
        )
    return timedelta(seconds=int(found.group(1)) * DURATION_UNITS[found.group(2)])


RoleOption = Annotated[
    Role,
    typer.Option("--role", "-r", help=f"The role: {ROLES}.", case_sensitive=False),
]
ProjectOption = Annotated[
    str, typer.Option("--project", "-p", help="The project (* for every project).")
]
DomainOption = Annotated[
    str | None,
    typer.Option("--domain", "-d", help="Only this domain (default: every domain)."),
]


def _config(endpoint: str | None) -> Config:
    """The config, even when ``CONTRAIL_CONFIG`` names a file ``login`` is about to create."""
    env = dict(os.environ)
    if env.get(CONFIG_ENV) and not default_config_path(env).exists():
        env.pop(CONFIG_ENV)
    return load_config(endpoint=endpoint, env=env)


def _remote(endpoint: str | None) -> Remote:
    config = _config(endpoint)
    return Remote(config.endpoint, token=config.token or "")


def _grants(grants: list[Grant]) -> str:
    return ", ".join(f"{g.role} on {g.project}{f'/{g.domain}' if g.domain else ''}" for g in grants)


def _print_identity(identity: Identity, endpoint: str) -> None:
    via = f"{identity.via} {identity.token_id}" if identity.token_id else identity.via
    console.print(
        f"[bold]{escape(identity.name)}[/] ({escape(identity.kind)}, via {escape(via)}) "
        f"at {escape(endpoint)}"
    )
    rows = [[g.project, g.domain or "*", str(g.role)] for g in identity.grants]
    if rows:
        console.print(make_table(("PROJECT", "DOMAIN", "ROLE"), rows, title="Grants"))
    else:
        console.print("No grants.")


@app.command()
def login(
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="The API token (ctr_...). Asked for, without echo, when not given.",
            show_default=False,
        ),
    ] = None,
    endpoint: EndpointOption = None,
) -> None:
    """Check a token with the cluster and keep it in the CLI's config (mode 0600)."""
    with reported_errors():
        config = _config(endpoint)
        if token is None:
            token = typer.prompt("API token", hide_input=True)
        token = token.strip()
        if not token:
            raise CLIError("no token given")
        with Remote(config.endpoint, token=token) as remote:
            try:
                identity = remote.whoami()
            except Unauthenticated as exc:
                raise CLIError(
                    f"{config.endpoint} does not accept this token ({exc.message}); "
                    "nothing was stored"
                ) from exc
        path = store_token(token, endpoint=endpoint)
    console.print(
        f"Signed in to {escape(config.endpoint)} as [bold]{escape(identity.name)}[/] "
        f"({escape(_grants(identity.grants) or 'no grants')}); token kept in "
        f"{escape(str(path))} (mode 0600)"
    )
    if os.environ.get(TOKEN_ENV):
        errors.print(f"note: {TOKEN_ENV} is set and wins over the config's token; unset it")


@app.command()
def logout() -> None:
    """Remove the token from the CLI's config."""
    with reported_errors():
        path = default_config_path()
        if not path.exists():
            console.print(f"Not signed in (no config file at {escape(str(path))})")
            return
        had = _config(None).token is not None and not os.environ.get(TOKEN_ENV)
        store_token(None, path)
    console.print(
        f"Signed out: removed the token from {escape(str(path))}"
        if had
        else f"No token in {escape(str(path))}"
    )
    if os.environ.get(TOKEN_ENV):
        errors.print(f"note: {TOKEN_ENV} is still set in this shell; unset it to sign out")


@app.command()
def whoami(endpoint: EndpointOption = None, output: OutputOption = OutputFormat.TABLE) -> None:
    """Who the current token is, and its grants."""
    with reported_errors(), _remote(endpoint) as remote:
        identity = remote.whoami()
    if output is not OutputFormat.TABLE:
        print_document(identity.model_dump(mode="json"), output)
        return
    _print_identity(identity, remote.endpoint)


@token_app.command("create")
def create_token(
    project: ProjectOption,
    role: RoleOption,
    domain: DomainOption = None,
    principal: Annotated[
        str | None,
        typer.Option(
            "--principal",
            help="Whose token (a user, created if missing, who gets the grant too); "
            "default: a new service account of its own.",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label for people.")] = None,
    expires_in: Annotated[
        timedelta | None,
        typer.Option(
            "--expires-in",
            parser=parse_duration,
            metavar="DURATION",
            help="Lifetime: 30d, 12h, 45m, 90s, 2w (default: it never expires).",
        ),
    ] = None,
    endpoint: EndpointOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Make a token granting ROLE on PROJECT, and print it: it is shown this once."""
    with reported_errors(), _remote(endpoint) as remote:
        made = remote.create_token(
            project,
            role.value,
            domain=domain,
            principal=principal,
            name=name,
            expires_in_seconds=int(expires_in.total_seconds()) if expires_in else None,
        )
    if output is not OutputFormat.TABLE:
        print_document(made.model_dump(mode="json"), output)
        return
    expires = format_time(made.expires_at) if made.expires_at else "never"
    console.print(
        f"Token {escape(made.id)} for [bold]{escape(made.principal)}[/] "
        f"({escape(_grants(made.grants))}), expires {expires}:\n"
    )
    console.print(made.token, markup=False, highlight=False, soft_wrap=True)
    errors.print(
        "\n[yellow]Copy it now: it is not shown again[/] (the cluster keeps only its hash). "
        f"Use it with `contrail auth login` or {TOKEN_ENV}."
    )


def _token_row(item: TokenInfo) -> list[str]:
    return [
        item.id,
        item.principal,
        item.name or "-",
        format_time(item.created_at),
        format_time(item.expires_at) if item.expires_at else "never",
        format_time(item.last_used_at),
        format_time(item.revoked_at) if item.revoked_at else "-",
    ]


@token_app.command("list")
def list_tokens(
    principal: Annotated[
        str | None, typer.Option("--principal", help="Only this principal's tokens.")
    ] = None,
    endpoint: EndpointOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """The tokens you may see (yours, and those on projects you administer): metadata only."""
    with reported_errors(), _remote(endpoint) as remote:
        items = remote.list_tokens(principal=principal)
    print_listing(
        [item.model_dump(mode="json") for item in items],
        output,
        TOKEN_COLUMNS,
        [_token_row(item) for item in items],
        "No tokens.",
    )


@token_app.command("revoke")
def revoke_token(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (not the token).")],
    endpoint: EndpointOption = None,
) -> None:
    """Revoke a token: every service refuses it within seconds."""
    with reported_errors(), _remote(endpoint) as remote:
        revoked = remote.revoke_token(token_id)
    console.print(f"Revoked token {escape(revoked.id)} of {escape(revoked.principal)}")


def _where(project: str, domain: str | None) -> str:
    return f"{project}/{domain}" if domain else project


@app.command()
def grant(
    principal: Annotated[str, typer.Argument(help="Who gets the role (a user, made if missing).")],
    project: ProjectOption,
    role: RoleOption,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Grant ROLE on PROJECT (or one domain of it) to PRINCIPAL."""
    with reported_errors(), _remote(endpoint) as remote:
        remote.create_grant(principal, project, role.value, domain=domain)
    console.print(
        f"Granted {role.value} on {escape(_where(project, domain))} to {escape(principal)}"
    )


@app.command("revoke-grant")
def revoke_grant(
    principal: Annotated[str, typer.Argument(help="Who loses the role.")],
    project: ProjectOption,
    role: RoleOption,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Take ROLE on PROJECT (or one domain of it) away from PRINCIPAL."""
    with reported_errors(), _remote(endpoint) as remote:
        remote.delete_grant(principal, project, role.value, domain=domain)
    console.print(
        f"Took {role.value} on {escape(_where(project, domain))} away from {escape(principal)}"
    )


def _audit_row(item: dict[str, Any]) -> list[str]:
    at = item.get("time")
    when = format_time(datetime.fromisoformat(at)) if isinstance(at, str) else "-"
    return [
        when,
        str(item.get("actor") or "-"),
        str(item.get("action") or "-"),
        str(item.get("project") or "-"),
        str(item.get("domain") or "-"),
        str(item.get("resource") or "-"),
    ]


@app.command()
def audit(
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project's entries.")
    ] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", "-d", help="Only this domain's entries.")
    ] = None,
    action: Annotated[
        AuditAction | None,
        typer.Option(
            "--action",
            "-a",
            help="Only this action: register, launch, abort, token.create, grant.create, ...",
            case_sensitive=False,
        ),
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only what this principal did.")
    ] = None,
    since: Annotated[
        timedelta | None,
        typer.Option(
            "--since",
            parser=parse_duration,
            metavar="DURATION",
            help="Only the last 1h, 7d, ... (default: all).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many entries.", min=1)] = 100,
    endpoint: EndpointOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Who registered, launched, aborted, granted or made tokens, and when; newest first."""
    with reported_errors(), _remote(endpoint) as remote:
        items = remote.audit(
            project=project,
            domain=domain,
            action=action.value if action is not None else None,
            actor=actor,
            since=datetime.now(UTC) - since if since is not None else None,
            limit=limit,
        )
    print_listing(items, output, AUDIT_COLUMNS, [_audit_row(i) for i in items], "No entries.")
