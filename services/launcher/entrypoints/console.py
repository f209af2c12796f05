"""A minimal console page per execution, so the URL every launch and alert prints answers.

``/console/projects/P/domains/D/executions/NAME`` shows the execution's phase,
times, error and node tree as plain HTML, with the commands that show more
(``contrail get execution ... --watch``, ``contrail logs``). It reads through
the same routes as the API, so it shows what ``GET /api/v1/executions/...``
answers; a richer console can replace it at the same URL.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.launcher.entrypoints.representations import Execution, NodeExecution
from services.launcher.entrypoints.routes_executions import Services, get_execution, list_nodes
from shared.auth.dependency import TOKEN_COOKIE, Authenticated, authenticator_of
from shared.errors import ServiceError

router = APIRouter(prefix="/console", tags=["console"])

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}"
    "table{border-collapse:collapse}td,th{padding:.2rem .6rem;text-align:left;"
    "border-bottom:1px solid #ddd}code,pre{background:#f4f4f4;padding:.1rem .3rem}"
    "pre{padding:.6rem;overflow-x:auto}.FAILED,.TIMED_OUT,.ABORTED{color:#b00}"
    ".SUCCEEDED{color:#070}"
)


def _phase(phase: str | None) -> str:
    text = escape(phase or "-")
    return f'<span class="{text}">{text}</span>'


def _when(value: object) -> str:
    return escape(str(value)) if value is not None else "-"


def _nodes(nodes: list[NodeExecution]) -> str:
    rows = []
    for node in nodes:
        marks = []
        if node.cache_hit:
            marks.append("cache hit")
        if node.recovered:
            marks.append("recovered")
        attempts = ", ".join(f"#{a.attempt} {escape(a.phase)}" for a in node.attempts)
        rows.append(
            "<tr>"
            f"<td><code>{escape(node.node_path)}</code></td>"
            f"<td>{escape(node.task or node.kind)}</td>"
            f"<td>{_phase(node.phase)}</td>"
            f"<td>{attempts or '-'}</td>"
            f"<td>{escape(', '.join(marks))}</td>"
            "</tr>"
        )
    head = "<tr><th>node</th><th>task</th><th>phase</th><th>attempts</th><th></th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def render_execution(execution: Execution, nodes: list[NodeExecution]) -> str:
    """The page of one execution: everything escaped, nothing fetched by the browser."""
    p, d, n = execution.project, execution.domain, execution.name
    watch = f"contrail get execution {n} -p {p} -d {d} --watch"
    logs = f"contrail logs {n} -p {p} -d {d} --node NODE --stderr"
    error = ""
    if execution.error is not None:
        tail = execution.error.traceback_tail or ""
        error = (
            f"<h2>Error</h2><p><b>{escape(execution.error.kind.value)}</b> "
            f"{escape(execution.error.code)}: {escape(execution.error.message)}</p>"
            + (f"<pre>{escape(tail)}</pre>" if tail else "")
        )
    launch_plan = execution.launch_plan
    facts = [
        ("phase", _phase(execution.phase)),
        ("workflow", escape(f"{execution.workflow.name} {execution.workflow.version}")),
        (
            "launch plan",
            escape(f"{launch_plan.name} {launch_plan.version}") if launch_plan else "-",
        ),
        ("created", _when(execution.created_at)),
        ("started", _when(execution.started_at)),
        ("ended", _when(execution.ended_at)),
        (
            "duration",
            f"{execution.duration_seconds:.3f} s"
            if execution.duration_seconds is not None
            else "-",
        ),
    ]
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    title = escape(f"{p}/{d}/{n}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title} · Contrail</title><style>{_STYLE}</style></head><body>"
        f"<h1>Execution {title}</h1><table>{rows}</table>{error}"
        f"<h2>Nodes</h2>{_nodes(nodes)}"
        f"<h2>From the command line</h2><pre>{escape(watch)}\n{escape(logs)}</pre>"
        "</body></html>"
    )


@router.get(
    "/projects/{project}/domains/{domain}/executions/{name}",
    response_class=HTMLResponse,
    summary="The console page of an execution (HTML)",
    include_in_schema=False,
)
async def execution_page(
    project: str, domain: str, name: str, svc: Services, principal: Authenticated
) -> HTMLResponse:
    execution = await get_execution(project, domain, name, svc, principal)
    nodes = await list_nodes(project, domain, name, svc, principal)
    return HTMLResponse(render_execution(execution, nodes.items))


# The sign-in form is the one console page without a credential: it is how a browser gets one.
login_router = APIRouter(prefix="/console", tags=["console"])

_LOGIN_FORM = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Contrail: sign in</title>"
    f"<style>{_STYLE}</style></head><body><h1>Sign in to the console</h1>@error@"
    "<form method='post' action='/console/login'>"
    "<input type='hidden' name='next' value='@next@'>"
    "<p><label>API token <input type='password' name='token' size='60' autofocus></label></p>"
    "<p><button type='submit'>Sign in</button></p></form>"
    "<p>Make a token with <code>contrail auth token create --project P --role viewer</code>."
    "</p></body></html>"
)


def _login_page(error: str, next_page: str) -> str:
    # Not str.format: the style sheet has braces of its own.
    page = _LOGIN_FORM.replace("@next@", escape(next_page, quote=True))
    return page.replace("@error@", error)


def _next_page(value: str | None) -> str:
    """Only a console page of this site: never an open redirect."""
    if value and value.startswith("/console/") and not value.startswith("//"):
        return value
    return "/console/login"


@login_router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(next: str | None = None) -> HTMLResponse:
    return HTMLResponse(_login_page("", _next_page(next)))


@login_router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Check the token, keep it in an HttpOnly cookie, and go back to the page asked for."""
    form = parse_qs((await request.body()).decode(errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    next_page = _next_page((form.get("next") or [""])[0])
    try:
        await authenticator_of(request).principal(token)
    except ServiceError as exc:
        error = f"<p class='FAILED'>{escape(exc.message)}</p>"
        return HTMLResponse(_login_page(error, next_page), status_code=exc.status)
    response = RedirectResponse(next_page, status_code=303)
    response.set_cookie(
        TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/console", max_age=12 * 3600
    )
    return response
