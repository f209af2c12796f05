"""Rendering the local stack's configs from the templates in deploy/local."""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path

import pytest

from contrail.demo.render import (
    OWN_ENDPOINTS,
    kafka_properties,
    new_cluster_id,
    nginx_conf,
    postgres_conf,
    render,
)
from shared.routes import API_PREFIX, SERVICE_ROUTES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "local"
PORTS = {"registry": 18101, "launcher": 18102, "notifier": 18103, "metrics": 18104}
STATE = Path("/srv/stack/.contrail/nginx")


def gateway_conf(routes: dict[str, tuple[str, ...]] = SERVICE_ROUTES) -> str:
    return nginx_conf(
        (DEPLOY / "nginx" / "nginx.conf.tmpl").read_text(),
        listen_host="127.0.0.1",
        listen_port=18080,
        state_dir=STATE,
        access_log=Path("/srv/stack/.contrail/logs/gateway-access.log"),
        upstreams={name: ("127.0.0.1", port) for name, port in PORTS.items()},
        routes=routes,
        api_prefix=API_PREFIX,
    )


def location_block(conf: str, match: str) -> str:
    """The body of ``location <match> { ... }`` (our blocks hold no nested braces)."""
    found = re.search(r"location " + re.escape(match) + r" \{(.*?)\}", conf, re.S)
    assert found, f"no location {match}"
    return found.group(1)


def test_render_fills_placeholders_and_leaves_nginx_variables() -> None:
    assert render("a {{ x }} $host {{y}}", {"x": 1, "y": "two"}) == "a 1 $host two"


def test_render_refuses_a_missing_value() -> None:
    with pytest.raises(KeyError, match="missing_one"):
        render("{{ missing_one }}", {})


def test_gateway_conf_has_no_placeholder_left_and_runs_in_the_foreground() -> None:
    conf = gateway_conf()
    assert "{{" not in conf
    assert "daemon off;" in conf
    assert "listen 127.0.0.1:18080;" in conf
    assert f"pid {STATE}/nginx.pid;" in conf
    assert f"proxy_temp_path {STATE}/tmp/proxy;" in conf
    assert "client_max_body_size 300m;" in conf
    assert "proxy_buffering off;" in conf


def test_gateway_routes_every_prefix_unchanged() -> None:
    conf = gateway_conf()
    for service, prefixes in SERVICE_ROUTES.items():
        for prefix in prefixes:
            for match in (f"= {prefix}", f"{prefix}/"):
                block = location_block(conf, match)
                # No URI after the upstream: nginx passes the path as it came.
                assert f"proxy_pass http://contrail_{service};" in block


def test_gateway_strips_the_service_prefix_for_its_own_endpoints() -> None:
    conf = gateway_conf()
    for service in PORTS:
        block = location_block(conf, f"{API_PREFIX}/{service}/")
        assert f"proxy_pass http://contrail_{service}/;" in block


def test_a_service_owning_its_own_prefix_gets_exact_own_endpoints() -> None:
    # Were metrics to serve /api/v1/metrics/... itself, only its own endpoints are stripped.
    conf = gateway_conf({**SERVICE_ROUTES, "metrics": ("/api/v1/metrics",)})
    assert "proxy_pass http://contrail_metrics/;" not in conf
    assert conf.count(f"location {API_PREFIX}/metrics/ {{") == 1
    for endpoint in OWN_ENDPOINTS:
        block = location_block(conf, f"= {API_PREFIX}/metrics/{endpoint}")
        assert f"proxy_pass http://contrail_metrics/{endpoint};" in block


def test_every_location_is_declared_once() -> None:
    matches = re.findall(r"^\s*location (.+?) \{", gateway_conf(), re.M)
    assert len(matches) == len(set(matches))


def test_upstreams_point_at_each_service_port() -> None:
    conf = gateway_conf()
    for service, port in PORTS.items():
        pattern = rf"upstream contrail_{service} \{{\s*server 127\.0\.0\.1:{port};"
        assert re.search(pattern, conf), service


def test_gateway_answers_healthz_and_json_404s() -> None:
    conf = gateway_conf()
    assert 'return 200 "ok\\n";' in location_block(conf, "= /healthz")
    unknown = location_block(conf, f"{API_PREFIX}/")
    assert "return 404" in unknown
    assert '"code": "not_found"' in unknown


def test_gateway_forwards_request_id_and_trace_context() -> None:
    conf = gateway_conf()
    for header in ("Host", "X-Forwarded-For", "X-Request-Id", "traceparent"):
        assert f"proxy_set_header {header} " in conf


def test_gateway_refuses_routes_to_unknown_services() -> None:
    with pytest.raises(ValueError, match="billing"):
        nginx_conf(
            "",
            listen_host="127.0.0.1",
            listen_port=1,
            state_dir=STATE,
            access_log=STATE / "a.log",
            upstreams={},
            routes={"billing": ("/api/v1/bills",)},
            api_prefix=API_PREFIX,
        )


def test_kafka_properties() -> None:
    text = kafka_properties(
        (DEPLOY / "kafka" / "server.properties.tmpl").read_text(),
        host="127.0.0.1",
        port=19092,
        controller_port=19093,
        data_dir=Path("/srv/stack/.contrail/kafka/data"),
        partitions=6,
    )
    props = dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == "/srv/stack/.contrail/kafka/data"
    assert props["num.partitions"] == "6"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "auto.create.topics.enable" not in props


def test_cluster_id_is_22_chars_of_unpadded_urlsafe_base64() -> None:
    value = uuid.UUID("0f3e5c4a-9b1d-4e2f-8a7b-6c5d4e3f2a1b")
    cluster_id = new_cluster_id(value)
    assert len(cluster_id) == 22
    assert "=" not in cluster_id
    assert base64.urlsafe_b64decode(cluster_id + "==") == value.bytes
    assert new_cluster_id() != new_cluster_id()


def test_postgres_conf_listens_only_on_loopback() -> None:
    text = postgres_conf(host="127.0.0.1", port=55432, socket_dir=Path("/s/run/postgres"))
    assert "listen_addresses = '127.0.0.1'" in text
    assert "port = 55432" in text
    assert "unix_socket_directories = '/s/run/postgres'" in text
