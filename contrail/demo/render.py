"""The configuration files of the local stack, rendered from ``deploy/local`` templates.

Every function here is pure: templates in, text out. Placeholders are
``{{ name }}``; nginx's own ``$variables`` pass through untouched.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

# What every service serves at its root, reached through <api_prefix>/<service>/.
OWN_ENDPOINTS = ("healthz", "readyz", "openapi.json")

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill every ``{{ name }}`` of ``template``; a name without a value is an error."""
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - values.keys())
    if missing:
        raise KeyError(f"the template needs values for: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def new_cluster_id(value: uuid.UUID | None = None) -> str:
    """A KRaft cluster id: a uuid4 as 22 characters of unpadded URL-safe base64."""
    raw = (value or uuid.uuid4()).bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def kafka_properties(
    template: str,
    *,
    host: str,
    port: int,
    controller_port: int,
    data_dir: Path,
    partitions: int,
) -> str:
    return render(
        template,
        {
            "host": host,
            "port": port,
            "controller_port": controller_port,
            "data_dir": data_dir,
            "partitions": partitions,
        },
    )


def postgres_conf(*, host: str, port: int, socket_dir: Path, max_connections: int = 200) -> str:
    """Settings included by the cluster's ``postgresql.conf`` (``contrail.conf``)."""
    return (
        "# Written by `contrail demo up` on every start.\n"
        f"listen_addresses = '{host}'\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        f"max_connections = {max_connections}\n"
        "log_line_prefix = '%m [%p] %q%u@%d '\n"
        "log_timezone = 'UTC'\n"
        "timezone = 'UTC'\n"
    )


def _nginx_upstream(service: str, host: str, port: int) -> str:
    return (
        f"    upstream contrail_{service} {{\n"
        f"        server {host}:{port};\n"
        "        keepalive 16;\n"
        "    }\n"
    )


def _nginx_location(match: str, service: str, target: str) -> str:
    return (
        f"        location {match} {{\n"
        f"            set $contrail_service {service};\n"
        f"            proxy_pass {target};\n"
        "        }\n"
    )


def nginx_conf(
    template: str,
    *,
    listen_host: str,
    listen_port: int,
    state_dir: Path,
    access_log: Path,
    upstreams: Mapping[str, tuple[str, int]],
    routes: Mapping[str, Sequence[str]],
    api_prefix: str,
) -> str:
    """The gateway's config.

    Each prefix a service owns reaches it with the path unchanged (both the
    prefix itself and everything under it); ``<api_prefix>/<service>/...``
    reaches it with ``<api_prefix>/<service>`` removed. When a service owns
    ``<api_prefix>/<service>`` itself, only its ``OWN_ENDPOINTS`` are stripped.
    """
    unknown = sorted(set(routes) - set(upstreams))
    if unknown:
        raise ValueError(f"routes name services without an address: {', '.join(unknown)}")
    upstream_blocks = [
        _nginx_upstream(service, host, port) for service, (host, port) in upstreams.items()
    ]
    locations: list[str] = []
    for service in upstreams:
        upstream = f"http://contrail_{service}"
        locations.append(f"        # {service}\n")
        owned = list(dict.fromkeys(p.rstrip("/") for p in routes.get(service, ())))
        for bare in owned:
            # `=` for the bare prefix, and a trailing slash so /projects never catches /projectsx.
            locations.append(_nginx_location(f"= {bare}", service, upstream))
            locations.append(_nginx_location(f"{bare}/", service, upstream))
        own = f"{api_prefix}/{service}"
        if own in owned:
            # The service's API lives under its own prefix too (metrics): strip only
            # its own endpoints and pass the rest of the prefix through unchanged.
            for endpoint in OWN_ENDPOINTS:
                locations.append(
                    _nginx_location(f"= {own}/{endpoint}", service, f"{upstream}/{endpoint}")
                )
        else:
            # A URI on proxy_pass replaces the matched prefix: /api/v1/registry/readyz -> /readyz.
            locations.append(_nginx_location(f"{own}/", service, f"{upstream}/"))
    return render(
        template,
        {
            "pid_file": state_dir / "nginx.pid",
            "temp_dir": state_dir / "tmp",
            "access_log": access_log,
            "listen": f"{listen_host}:{listen_port}",
            "api_prefix": api_prefix,
            "upstreams": "\n".join(upstream_blocks).rstrip("\n"),
            "service_locations": "\n".join(locations).rstrip("\n"),
        },
    )
