"""Which service owns which path of the public API.

The gateway (nginx locally, the same in docker-compose) routes on these
prefixes; each service serves its API under the same paths, so nothing is
rewritten on the way. ``/api/v1/<service>/...`` reaches a service's own
endpoints (``healthz``, ``readyz``, ``openapi.json``) with the prefix removed.
"""

from __future__ import annotations

API_PREFIX = "/api/v1"

SERVICE_ROUTES: dict[str, tuple[str, ...]] = {
    "registry": (
        "/api/v1/projects",
        "/api/v1/tasks",
        "/api/v1/workflows",
        "/api/v1/launch_plans",
        "/api/v1/data_proxy",
        "/api/v1/audit",
        "/api/v1/auth",
    ),
    "launcher": (
        "/api/v1/executions",
        "/api/v1/node_executions",
        "/api/v1/task_attempts",
        "/api/v1/schedules",
        # The minimal console page of an execution (the URL launches and alerts print).
        "/console",
    ),
    "notifier": (
        "/api/v1/subscriptions",
        "/api/v1/deliveries",
    ),
    "metrics": ("/api/v1/usage",),
}


def service_prefix(service: str) -> str:
    """The gateway path under which a service's own endpoints answer."""
    return f"{API_PREFIX}/{service}/"


def console_url(base: str, project: str, domain: str, name: str) -> str:
    """The console page of an execution (served by the launcher; printed by launches and alerts)."""
    return f"{base.rstrip('/')}/console/projects/{project}/domains/{domain}/executions/{name}"
