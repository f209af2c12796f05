"""docker-compose.yml, its gateway config and the image agree with our settings.

No Docker engine is needed: the compose file is parsed with PyYAML, the
containers' environments are fed to the real settings classes, and the
gateway's nginx.conf is parsed and its location matching simulated, so that
renaming a variable, a port, a route or a service anywhere breaks a test here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

from shared.routes import SERVICE_ROUTES, service_prefix
from shared.settings import (
    SERVICE_NAMES,
    SERVICE_SETTINGS,
    InfraSettings,
    StackSettings,
    WorkerSettings,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "compose" / "nginx.conf"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAKE_ENV = ROOT / "deploy" / "compose" / "make_env.py"


def _load_make_env() -> Any:
    spec = importlib.util.spec_from_file_location("make_env", MAKE_ENV)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_env = _load_make_env()
# The .env that `make env` would write: compose interpolates the file with it.
DOT_ENV: dict[str, str] = make_env.generated()
# ${VAR}, ${VAR:?message}, ${VAR-default}, ... (not $$, compose's escaped dollar)
_VARIABLE = re.compile(
    r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[?-])(?P<arg>[^}]*))?\}"
)


def interpolate(text: str, env: dict[str, str]) -> str:
    """The compose file as ``docker compose`` reads it with ``env`` (its .env)."""

    def value(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if present:
            return env[name]
        assert not (op or "").endswith("?"), f"compose refuses to start without {name}: {arg}"
        return arg if op else ""

    return _VARIABLE.sub(value, text)


INFRA_SERVICES = ("postgres", "kafka", "minio", "mailpit")
WORKER = "worker"
TOPOLOGY = (*INFRA_SERVICES, "gateway", *SERVICE_NAMES, WORKER)

# Each Contrail container and the settings class its process reads.
CONTAINER_SETTINGS: dict[str, type[BaseSettings]] = {**SERVICE_SETTINGS, WORKER: WorkerSettings}

# InfraSettings fields that say how to reach PostgreSQL, Kafka, S3 and SMTP live
# under these prefixes; the ones below are tuning knobs whose defaults hold in
# any topology. Any other field under these prefixes must be set by compose.
CONNECTION_PREFIXES = ("pg_", "kafka_", "s3_", "smtp_")
TUNING_FIELDS = frozenset(
    {
        "pg_pool_min",
        "pg_pool_max",
        "kafka_controller_port",
        "kafka_partitions",
        "kafka_replication_factor",
        "s3_console_port",
    }
)

# The Mailpit release the local stack builds with go install: the image has the same tag.
MAILPIT_VERSION = str(StackSettings.model_fields["mailpit_module"].default).rpartition("@")[2]

OFFICIAL_IMAGES = {
    "postgres": "postgres:15",
    "kafka": f"apache/kafka:{StackSettings.model_fields['kafka_version'].default}",
    "minio": "minio/minio",
    "minio-init": "minio/mc",
    "gateway": "nginx:1.27",
    "mailpit": f"axllent/mailpit:{MAILPIT_VERSION}",
}


# --------------------------------------------------------------------------
# Reading the compose file


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), DOT_ENV))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as strings, whichever form compose uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def published_ports(service: dict[str, Any]) -> dict[int, int]:
    """Host port -> container port, from short ("18080:80") or long syntax."""
    ports: dict[int, int] = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports[int(entry["published"])] = int(entry["target"])
            continue
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) >= 2, f"port {entry!r} is not published on a fixed host port"
        ports[int(parts[-2])] = int(parts[-1])
    return ports


def command_words(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(word) for word in value]


def healthcheck_url(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(str(word) for word in test)
    urls = re.findall(r"https?://[^\s'\"]+", text)
    assert len(urls) == 1, f"expected one URL in the healthcheck {text!r}"
    return str(urls[0])


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency -> condition (short list syntax means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


# --------------------------------------------------------------------------
# Reading the settings models


def env_names(settings_cls: type[BaseSettings], field_name: str) -> set[str]:
    """The environment variables from which pydantic-settings fills a field."""
    info = settings_cls.model_fields[field_name]
    alias = info.validation_alias or info.alias
    if isinstance(alias, AliasChoices):
        names = {choice for choice in alias.choices if isinstance(choice, str)}
        assert names, f"{settings_cls.__name__}.{field_name}: no plain alias"
        return {name.upper() for name in names}
    if isinstance(alias, AliasPath):
        return {str(alias.path[0]).upper()}
    if isinstance(alias, str):
        return {alias.upper()}
    prefix = settings_cls.model_config.get("env_prefix", "")
    return {f"{prefix}{field_name}".upper()}


def accepted_env_names(settings_cls: type[BaseSettings]) -> set[str]:
    return {name for field in settings_cls.model_fields for name in env_names(settings_cls, field)}


def connection_fields() -> list[str]:
    return [
        name
        for name in InfraSettings.model_fields
        if name.startswith(CONNECTION_PREFIXES) and name not in TUNING_FIELDS
    ]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CONTRAIL_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("CONTRAIL_"):
            monkeypatch.delenv(name)
    return monkeypatch


def settings_in(
    container: str, services: dict[str, dict[str, Any]], env: pytest.MonkeyPatch
) -> Any:
    """The settings object the container's process builds from its environment."""
    for name, value in environment(services[container]).items():
        env.setenv(name, value)
    return CONTAINER_SETTINGS[container]()


# --------------------------------------------------------------------------
# nginx.conf: a small parser and nginx's location matching


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def child(self, name: str) -> Directive | None:
        found = self.children(name)
        assert len(found) <= 1, f"{name} is set twice in {self.name} {self.args}"
        return found[0] if found else None


_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<q>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')|(?P<p>[{};])|(?P<w>[^\s{};"']+)"""
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def parse_nginx(text: str) -> Directive:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        assert match, f"cannot tokenize nginx.conf at {text[pos : pos + 40]!r}"
        pos = match.end()
        if match.group("q"):
            tokens.append(("word", _unquote(match.group("q"))))
        elif match.group("p"):
            tokens.append(("punct", match.group("p")))
        elif match.group("w"):
            tokens.append(("word", match.group("w")))

    def block(index: int) -> tuple[list[Directive], int]:
        directives: list[Directive] = []
        words: list[str] = []
        while index < len(tokens):
            kind, value = tokens[index]
            index += 1
            if kind == "word":
                words.append(value)
            elif value == ";":
                directives.append(Directive(words[0], words[1:]))
                words = []
            elif value == "{":
                children, index = block(index)
                directives.append(Directive(words[0], words[1:], children))
                words = []
            else:
                assert not words, f"unterminated directive {words}"
                return directives, index
        assert not words, f"unterminated directive {words}"
        return directives, index

    directives, _ = block(0)
    return Directive("main", [], directives)


def _python_regex(pattern: str) -> str:
    return re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)


@dataclass
class Location:
    modifier: str  # "=", "^~", "~", "~*" or "" (plain prefix)
    pattern: str
    directive: Directive

    def matches(self, uri: str) -> bool:
        if self.modifier == "=":
            return uri == self.pattern
        if self.modifier in ("", "^~"):
            return uri.startswith(self.pattern)
        flags = re.IGNORECASE if self.modifier == "~*" else 0
        return re.search(_python_regex(self.pattern), uri, flags) is not None


@dataclass
class Answer:
    """What the gateway does with a request: proxy it, or answer itself."""

    upstream: str | None = None
    path: str | None = None
    status: int | None = None
    body: str | None = None
    location: Location | None = field(default=None, repr=False)


@dataclass
class Gateway:
    http: Directive
    server: Directive
    locations: list[Location]
    upstreams: dict[str, tuple[str, int]]

    @classmethod
    def load(cls, path: Path) -> Gateway:
        main = parse_nginx(path.read_text())
        http = main.child("http")
        assert http is not None, "nginx.conf has no http block"
        servers = http.children("server")
        assert len(servers) == 1, "the gateway has one server block"
        server = servers[0]
        locations = []
        for directive in server.children("location"):
            if directive.args[0].startswith("@"):
                continue  # named locations are reached only by error_page
            assert not directive.children("location"), "nested locations are not simulated"
            if len(directive.args) == 2:
                locations.append(Location(directive.args[0], directive.args[1], directive))
            else:
                locations.append(Location("", directive.args[0], directive))
        upstreams = {}
        for upstream in http.children("upstream"):
            servers_in = upstream.children("server")
            assert len(servers_in) == 1, f"upstream {upstream.args[0]}: one server"
            host, _, port = servers_in[0].args[0].rpartition(":")
            upstreams[upstream.args[0]] = (host, int(port))
        return cls(http, server, locations, upstreams)

    def select(self, uri: str) -> Location | None:
        """nginx's choice: exact match; else the longest prefix if it is ^~; else
        the first matching regex in file order; else the longest prefix."""
        for location in self.locations:
            if location.modifier == "=" and location.matches(uri):
                return location
        prefixes = [
            loc for loc in self.locations if loc.modifier in ("", "^~") and loc.matches(uri)
        ]
        longest = max(prefixes, key=lambda loc: len(loc.pattern), default=None)
        if longest is not None and longest.modifier == "^~":
            return longest
        for location in self.locations:
            if location.modifier in ("~", "~*") and location.matches(uri):
                return location
        return longest

    def handle(self, uri: str) -> Answer:
        exact = [loc for loc in self.locations if loc.modifier == "=" and loc.matches(uri)]
        for location in self.locations:
            # nginx redirects /x to /x/ when a proxying prefix location is /x/.
            if (
                not exact
                and location.modifier in ("", "^~")
                and location.pattern == f"{uri}/"
                and location.directive.child("proxy_pass") is not None
            ):
                return Answer(status=301, body=location.pattern, location=location)
        selected = self.select(uri)
        assert selected is not None, f"no location matches {uri}"
        block = selected.directive
        returned = block.child("return")
        if returned is not None:
            body = returned.args[1] if len(returned.args) > 1 else None
            return Answer(status=int(returned.args[0]), body=body, location=selected)
        proxy = block.child("proxy_pass")
        assert proxy is not None, f"location {selected.pattern} neither returns nor proxies"
        target = urlsplit(proxy.args[0])
        assert target.scheme == "http", proxy.args
        assert target.hostname, proxy.args
        path = uri
        rewrites = block.children("rewrite")
        for rewrite in rewrites:
            regex, replacement, flag = rewrite.args
            assert flag == "break", f"only 'rewrite ... break' is simulated: {rewrite.args}"
            compiled = re.compile(_python_regex(regex))
            if compiled.search(path):
                replacement = re.sub(r"\$(\d)", r"\\\1", replacement)
                path = compiled.sub(replacement, path, count=1)
                break
        if target.path:
            # proxy_pass with a URI replaces the part the (prefix) location matched.
            assert selected.modifier in ("", "^~"), "a URI in proxy_pass needs a prefix location"
            assert not rewrites, "rewrite and a URI in proxy_pass are not simulated together"
            path = target.path + uri[len(selected.pattern) :]
        return Answer(upstream=target.hostname, path=path, location=selected)


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    return Gateway.load(NGINX_CONF)


# --------------------------------------------------------------------------
# The topology


def test_compose_names_every_service_of_the_topology(services: dict[str, dict[str, Any]]) -> None:
    missing = [name for name in TOPOLOGY if name not in services]
    assert not missing, f"docker-compose.yml lacks {missing}"


def test_infrastructure_uses_the_official_images(services: dict[str, dict[str, Any]]) -> None:
    for name, image in OFFICIAL_IMAGES.items():
        actual = services[name]["image"]
        if ":" in image:
            assert actual == image, f"{name}: {actual}"
        else:
            assert actual.split(":")[0] == image, f"{name}: {actual}"
        assert "build" not in services[name], f"{name} is built, not the official image"


def test_contrail_containers_run_one_image_built_from_deploy_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    images = set()
    for name in CONTAINER_SETTINGS:
        service = services[name]
        images.add(service["image"])
        build = service["build"]
        assert (ROOT / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, name
    assert images == {"contrail:local"}


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_each_service_runs_its_module(services: dict[str, dict[str, Any]], name: str) -> None:
    assert command_words(services[name]["command"]) == ["python", "-m", f"services.{name}"]


def test_worker_runs_the_launcher_worker(services: dict[str, dict[str, Any]]) -> None:
    words = command_words(services[WORKER]["command"])
    assert words[:3] == ["python", "-m", "services.launcher.worker"]
    assert "--concurrency" in words
    assert int(words[words.index("--concurrency") + 1]) >= 1
    assert "ports" not in services[WORKER], "workers listen on no port (and scale out)"
    assert "container_name" not in services[WORKER], "a fixed name prevents --scale"


@pytest.mark.parametrize("name", list(CONTAINER_SETTINGS))
def test_contrail_containers_wait_for_healthy_infrastructure(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    deps = depends_on(services[name])
    for infra in INFRA_SERVICES:
        assert deps.get(infra) == "service_healthy", f"{name} -> {infra}: {deps}"


def test_every_awaited_health_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dep, condition in depends_on(service).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert condition in (
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            ), f"{name} -> {dep}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health"


def test_gateway_waits_for_the_services(services: dict[str, dict[str, Any]]) -> None:
    deps = depends_on(services["gateway"])
    assert {name: deps.get(name) for name in SERVICE_NAMES} == dict.fromkeys(
        SERVICE_NAMES, "service_healthy"
    )


# --------------------------------------------------------------------------
# Environments against the settings


def test_connection_fields_are_read_from_the_model() -> None:
    assert set(InfraSettings.model_fields) >= TUNING_FIELDS, "stale TUNING_FIELDS"
    fields = connection_fields()
    for expected in ("pg_host", "pg_port", "pg_password", "kafka_bootstrap", "s3_endpoint"):
        assert expected in fields


@pytest.mark.parametrize("name", list(CONTAINER_SETTINGS))
def test_container_sets_every_connection_variable(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = environment(services[name])
    settings_cls = CONTAINER_SETTINGS[name]
    missing = [
        sorted(env_names(settings_cls, field))
        for field in connection_fields()
        if not env_names(settings_cls, field) & env.keys()
    ]
    assert not missing, f"{name} does not set {missing}"


@pytest.mark.parametrize("name", list(CONTAINER_SETTINGS))
def test_container_sets_only_variables_the_settings_read(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    accepted = accepted_env_names(CONTAINER_SETTINGS[name])
    unread = [key for key in environment(services[name]) if key.upper().startswith("CONTRAIL_")]
    unread = [key for key in unread if key.upper() not in accepted]
    assert not unread, f"{name} sets {unread}, which {CONTAINER_SETTINGS[name].__name__} ignores"


def test_accepted_names_include_the_service_port_aliases() -> None:
    # The typo check above relies on these: CONTRAIL_PORT is not read by a service.
    for name, settings_cls in SERVICE_SETTINGS.items():
        accepted = accepted_env_names(settings_cls)
        assert f"CONTRAIL_{name.upper()}_PORT" in accepted
        assert "CONTRAIL_PORT" not in accepted
        assert "CONTRAIL_PG_HOST" in accepted


@pytest.mark.parametrize("name", list(CONTAINER_SETTINGS))
def test_settings_built_in_the_container_reach_the_other_containers(
    services: dict[str, dict[str, Any]], clean_env: pytest.MonkeyPatch, name: str
) -> None:
    settings = settings_in(name, services, clean_env)

    # PostgreSQL: the compose service, on its container port, with its credentials.
    postgres = services["postgres"]
    pg_env = environment(postgres)
    assert settings.pg_host == "postgres"
    assert settings.pg_port in published_ports(postgres).values()
    assert settings.pg_port == 5432  # the postgres image's port
    assert settings.pg_user == pg_env["POSTGRES_USER"]
    assert settings.pg_password.get_secret_value() == pg_env["POSTGRES_PASSWORD"]
    assert settings.pg_database == pg_env["POSTGRES_DB"]

    # Kafka: a listener the broker advertises to the compose network.
    kafka_env = environment(services["kafka"])
    advertised = {
        urlsplit(listener).netloc for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    for address in settings.kafka_bootstrap.split(","):
        assert address in advertised, f"{address} is not advertised ({advertised})"
        host, _, port = address.rpartition(":")
        assert host == "kafka"
        bound = [urlsplit(item).port for item in kafka_env["KAFKA_LISTENERS"].split(",")]
        assert int(port) in bound
    assert settings.kafka_bootstrap == "kafka:9092"

    # S3: MinIO's API address, its root credentials, the bucket minio-init makes.
    minio = services["minio"]
    minio_env = environment(minio)
    endpoint = urlsplit(settings.s3_endpoint)
    assert endpoint.hostname == "minio"
    words = command_words(minio["command"])
    assert words[:2] == ["server", "/data"]
    address = words[words.index("--address") + 1] if "--address" in words else ":9000"
    assert endpoint.port == int(address.rpartition(":")[2])
    assert settings.s3_endpoint == "http://minio:9000"
    assert settings.s3_access_key == minio_env["MINIO_ROOT_USER"]
    assert settings.s3_secret_key.get_secret_value() == minio_env["MINIO_ROOT_PASSWORD"]

    # Names are shared/settings.py's defaults; passwords are .env's.
    for name_ in ("pg_user", "pg_database", "s3_bucket", "s3_region"):
        assert getattr(settings, name_) == InfraSettings.model_fields[name_].default, name_
    assert settings.pg_password.get_secret_value() == DOT_ENV["CONTRAIL_PG_PASSWORD"]
    assert settings.s3_secret_key.get_secret_value() == DOT_ENV["CONTRAIL_S3_SECRET_KEY"]

    if name in SERVICE_SETTINGS:
        assert settings.host == "0.0.0.0", f"{name} must bind every interface in its container"


def test_minio_init_creates_the_settings_bucket(
    services: dict[str, dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    init = services["minio-init"]
    assert depends_on(init) == {"minio": "service_healthy"}
    script = " ".join(
        command_words(init.get("entrypoint", [])) + command_words(init.get("command", []))
    )
    assert re.search(r"\bmc\b.*\bmb\b", script), script
    for name, value in environment(init).items():
        clean_env.setenv(name, value)
    settings = InfraSettings()
    assert settings.s3_bucket == InfraSettings.model_fields["s3_bucket"].default
    assert settings.s3_endpoint == "http://minio:9000"
    # The script reads the bucket, endpoint and keys from that same environment.
    for variable in ("S3_BUCKET", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        assert f"$$CONTRAIL_{variable}" in script, variable


def test_contrail_environment_is_written_once(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    assert "x-contrail-env" in compose
    assert re.search(r"^x-contrail-env: &contrail-env$", text, re.MULTILINE)
    assert text.count("CONTRAIL_PG_HOST:") == 1
    assert text.count("CONTRAIL_KAFKA_BOOTSTRAP:") == 1


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_otel_service_name_is_the_service(services: dict[str, dict[str, Any]], name: str) -> None:
    assert environment(services[name])["OTEL_SERVICE_NAME"] == name


# --------------------------------------------------------------------------
# Ports: settings, healthchecks and gateway agree


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_port_matches_healthcheck_and_gateway(
    services: dict[str, dict[str, Any]],
    gateway: Gateway,
    clean_env: pytest.MonkeyPatch,
    name: str,
) -> None:
    port = settings_in(name, services, clean_env).port
    assert port == SERVICE_SETTINGS[name].default_port or (
        f"CONTRAIL_{name.upper()}_PORT" in environment(services[name])
    )

    url = urlsplit(healthcheck_url(services[name]))
    assert url.hostname in ("127.0.0.1", "localhost")
    assert url.port == port, f"{name} listens on {port}, its healthcheck asks {url.port}"
    assert url.path == "/readyz"

    assert gateway.upstreams[name] == (name, port), (
        f"the gateway sends {name}'s traffic to {gateway.upstreams[name]}, it listens on {port}"
    )


def test_gateway_publishes_the_settings_gateway_port(
    services: dict[str, dict[str, Any]], gateway: Gateway, clean_env: pytest.MonkeyPatch
) -> None:
    ports = published_ports(services["gateway"])
    host_port = InfraSettings().gateway_port
    assert host_port in ports, f"gateway publishes {ports}, the CLI expects {host_port}"
    listens = {int(d.args[0].rpartition(":")[2]) for d in gateway.server.children("listen")}
    assert ports[host_port] in listens


def test_gateway_mounts_the_nginx_conf(services: dict[str, dict[str, Any]]) -> None:
    mounts = [str(v).split(":") for v in services["gateway"]["volumes"]]
    sources = {(ROOT / m[0]).resolve(): m[1] for m in mounts if len(m) >= 2}
    assert sources.get(NGINX_CONF) == "/etc/nginx/nginx.conf"


def test_infrastructure_host_ports_match_the_local_defaults(
    services: dict[str, dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    # The host sees the stack where the default settings look for it.
    defaults = InfraSettings()
    assert published_ports(services["postgres"]).get(defaults.pg_port) == 5432
    s3 = urlsplit(defaults.s3_endpoint)
    assert s3.port in published_ports(services["minio"])
    host, _, port = defaults.kafka_bootstrap.rpartition(":")
    kafka_env = environment(services["kafka"])
    assert f"{host}:{port}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert int(port) in published_ports(services["kafka"])


def published_hosts(service: dict[str, Any]) -> dict[int, str | None]:
    """Host port -> the host address it is bound to (None: every interface)."""
    hosts: dict[int, str | None] = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            hosts[int(entry["published"])] = entry.get("host_ip")
            continue
        parts = str(entry).split("/")[0].split(":")
        hosts[int(parts[-2])] = ":".join(parts[:-2]) or None
    return hosts


def _bind_port(address: str) -> int:
    return int(address.rpartition(":")[2])


def test_mailpit_publishes_the_local_stack_ports_on_loopback_only(
    services: dict[str, dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    mailpit = services["mailpit"]
    env = environment(mailpit)
    ports = published_ports(mailpit)
    defaults = StackSettings()
    assert ports.get(defaults.smtp_port) == _bind_port(env["MP_SMTP_BIND_ADDR"])
    inbox = urlsplit(defaults.mailpit_url)
    assert inbox.port is not None
    assert ports.get(inbox.port) == _bind_port(env["MP_UI_BIND_ADDR"])
    # The inbox has no login: the host's other interfaces must not reach it.
    assert set(published_hosts(mailpit).values()) == {"127.0.0.1"}


def test_mailpit_healthcheck_is_its_readyz(services: dict[str, dict[str, Any]]) -> None:
    assert command_words(services["mailpit"]["healthcheck"]["test"]) == [
        "CMD",
        "/mailpit",
        "readyz",
    ]


@pytest.mark.parametrize("name", list(CONTAINER_SETTINGS))
def test_contrail_containers_send_email_to_mailpit(
    services: dict[str, dict[str, Any]], clean_env: pytest.MonkeyPatch, name: str
) -> None:
    settings = settings_in(name, services, clean_env)
    assert settings.smtp_host == "mailpit"
    assert settings.smtp_port == _bind_port(environment(services["mailpit"])["MP_SMTP_BIND_ADDR"])


# Flags of the local stack's Mailpit whose environment variable is not MP_<FLAG>.
_MAILPIT_FLAG_ENV = {
    "--smtp": "MP_SMTP_BIND_ADDR",
    "--listen": "MP_UI_BIND_ADDR",
    "--max": "MP_MAX_MESSAGES",
}


def test_mailpit_is_configured_as_the_local_stack_runs_it(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    from contrail.demo.components import Mailpit
    from contrail.demo.layout import Layout
    from contrail.demo.pidfiles import PidFiles

    layout = Layout(home=tmp_path / "home", cache=tmp_path / "cache", repo=ROOT)
    argv = Mailpit(StackSettings(), layout, PidFiles(layout.run_dir)).argv()[1:]
    env = environment(services["mailpit"])
    expected: dict[str, str] = {}
    for index, word in enumerate(argv):
        if not word.startswith("--"):
            continue
        value = argv[index + 1] if index + 1 < len(argv) else ""
        has_value = bool(value) and not value.startswith("--")
        variable = _MAILPIT_FLAG_ENV.get(word, "MP_" + word[2:].replace("-", "_").upper())
        expected[variable] = value if has_value else "true"
    # Addresses and the database path differ in a container; everything else is the same.
    for variable in ("MP_SMTP_BIND_ADDR", "MP_UI_BIND_ADDR", "MP_DATABASE"):
        assert variable in env, variable
        expected.pop(variable)
    assert {key: env.get(key) for key in expected} == expected
    assert env["MP_DATABASE"].startswith("/data/")
    volumes = [str(v).split(":") for v in services["mailpit"]["volumes"]]
    assert ["mailpit-data", "/data"] in volumes


def test_kafka_is_a_single_kraft_node(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node_id}@kafka:")
    for key, value in env.items():
        if key.endswith("REPLICATION_FACTOR") or key.endswith("MIN_ISR"):
            assert value == "1", key
    names = {item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")}
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in names
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in names
    protocol_map = env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    protocols = dict(item.split(":") for item in protocol_map.split(","))
    assert names <= protocols.keys()


# --------------------------------------------------------------------------
# Gateway routes against shared/routes.py


@pytest.mark.parametrize(
    ("service", "prefix"),
    [(service, prefix) for service, prefixes in SERVICE_ROUTES.items() for prefix in prefixes],
)
def test_gateway_routes_every_prefix_unchanged(gateway: Gateway, service: str, prefix: str) -> None:
    for uri in (prefix, f"{prefix}/", f"{prefix}/some-id/children"):
        answer = gateway.handle(uri)
        assert answer.upstream == service, f"{uri} goes to {answer}"
        assert answer.path == uri, f"{uri} reaches {service} as {answer.path}"
    # A longer word is not the prefix: /api/v1/tasksfoo is no task path.
    assert gateway.handle(f"{prefix}x").upstream is None


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_gateway_strips_the_service_prefix(gateway: Gateway, service: str) -> None:
    prefix = service_prefix(service)
    for endpoint in ("/healthz", "/readyz", "/openapi.json"):
        answer = gateway.handle(prefix.rstrip("/") + endpoint)
        assert (answer.upstream, answer.path) == (service, endpoint), answer
    # One location serves a service's own endpoints.
    own = {
        id(gateway.handle(prefix.rstrip("/") + endpoint).location)
        for endpoint in ("/healthz", "/readyz", "/openapi.json")
    }
    assert len(own) == 1
    bare = prefix.rstrip("/")
    if bare not in SERVICE_ROUTES[service]:
        assert gateway.handle(bare).status == 301


def test_gateway_answers_unknown_api_paths_with_json_404(gateway: Gateway) -> None:
    for uri in ("/api/v1/", "/api/v1/nothing", "/api/v1/nothing/here"):
        answer = gateway.handle(uri)
        assert answer.status == 404, uri
        assert answer.body is not None
        assert json.loads(answer.body)["error"]["code"] == "not_found"
        assert json.loads(answer.body)["error"]["message"]


def test_gateway_healthz(gateway: Gateway) -> None:
    answer = gateway.handle("/healthz")
    assert answer.status == 200


def test_gateway_settings(gateway: Gateway) -> None:
    def value(name: str) -> str | None:
        directive = gateway.server.child(name) or gateway.http.child(name)
        return " ".join(directive.args) if directive else None

    assert value("proxy_buffering") == "off"
    assert value("client_max_body_size") == "300m"
    assert value("default_type") == "application/json", "the gateway's own answers are JSON"


def test_every_upstream_is_a_compose_service(
    gateway: Gateway, services: dict[str, dict[str, Any]]
) -> None:
    assert set(gateway.upstreams) == set(SERVICE_NAMES)
    for name, (host, _) in gateway.upstreams.items():
        assert host == name
        assert host in services


# --------------------------------------------------------------------------
# The image


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            steps.append((instruction.upper(), rest.strip()))
    return steps


def _copy_sources(args: str) -> list[str]:
    words = [word for word in shlex.split(args) if not word.startswith("--")]
    return [word.rstrip("/") for word in words[:-1]]


def test_dockerfile_copies_the_packages_and_uses_the_lock(
    dockerfile: list[tuple[str, str]],
) -> None:
    copies = [(i, _copy_sources(args)) for i, (ins, args) in enumerate(dockerfile) if ins == "COPY"]
    copied = {source for _, sources in copies for source in sources}
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    assert set(packages) == {"contrail", "shared", "services"}
    for package in packages:
        assert package in copied, f"the image lacks {package}/"
    assert "uv.lock" in copied

    runs = [(i, args) for i, (ins, args) in enumerate(dockerfile) if ins == "RUN"]
    deps = [i for i, args in runs if "uv sync" in args and "--no-install-project" in args]
    project = [i for i, args in runs if "uv sync" in args and "--no-install-project" not in args]
    assert deps, "uv sync --no-install-project: the dependencies alone"
    assert project, "then uv sync: the project"
    for _, args in runs:
        if "uv sync" in args:
            assert "--frozen" in args, args
            assert "--no-dev" in args, args

    lock_copy = min(i for i, sources in copies if "uv.lock" in sources)
    code_copies = [i for i, sources in copies if set(sources) & set(packages)]
    # Layer caching: the lock, then dependencies, then the code, then the project.
    assert lock_copy < deps[0] < min(code_copies)
    assert max(code_copies) < project[0]
    # hatchling reads the readme that pyproject.toml names when it builds the project.
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert any(readme in sources for i, sources in copies if i < project[0])


def test_dockerfile_base_user_and_path(dockerfile: list[tuple[str, str]]) -> None:
    bases = [args for ins, args in dockerfile if ins == "FROM"]
    assert bases
    assert bases[-1].startswith("python:3.11")
    assert any(ins == "RUN" and "pip install" in args and "uv" in args for ins, args in dockerfile)
    users = [args for ins, args in dockerfile if ins == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    env = " ".join(args for ins, args in dockerfile if ins == "ENV")
    assert re.search(r"PATH=\S*/\.venv/bin", env)
    cmd = [args for ins, args in dockerfile if ins == "CMD"]
    assert cmd
    assert command_words(yaml.safe_load(cmd[-1])) == ["python", "-m", "services.registry"]


def test_dockerignore_keeps_local_state_out(dockerfile: list[tuple[str, str]]) -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for name in (".venv", ".contrail", ".git", "**/__pycache__"):
        assert name in ignored, name
    copied = {
        source
        for ins, args in dockerfile
        if ins == "COPY"
        for source in _copy_sources(args)
        if "--from" not in args
    }
    assert not copied & ignored, f"the Dockerfile copies ignored {copied & ignored}"


# --------------------------------------------------------------------------
# Exposure: loopback ports, passwords from .env


def test_every_published_port_is_bound_to_loopback(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for entry in service.get("ports", []):
            if isinstance(entry, dict):
                assert entry.get("host_ip") == "127.0.0.1", f"{name}: {entry}"
            else:
                assert str(entry).startswith("127.0.0.1:"), f"{name} publishes {entry!r}"


def _raw_environments() -> dict[str, dict[str, str]]:
    """Every environment block (services and x- fragments), not interpolated."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    blocks = {key: value for key, value in data.items() if key.startswith("x-")}
    blocks.update(data["services"])
    return {
        name: environment(block) if "environment" in block else environment({"environment": block})
        for name, block in blocks.items()
        if isinstance(block, dict)
    }


_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|SECRETS_KEY")


def test_no_password_is_written_in_the_compose_file() -> None:
    found = 0
    for block, env in _raw_environments().items():
        for key, value in env.items():
            if not _SECRET_NAME.search(key):
                continue
            found += 1
            match = _VARIABLE.fullmatch(value)
            assert match, f"{block}: {key} is written in the file, not taken from .env"
            assert match.group("op") == ":?", f"{block}: {key} must be required (${{VAR:?...}})"
    assert found >= 6  # PostgreSQL's and MinIO's twice each, the secrets key, the webhook secret
    text = COMPOSE_FILE.read_text()
    for secret in ("pg_password", "s3_secret_key"):
        default = InfraSettings.model_fields[secret].default.get_secret_value()
        assert not re.search(
            rf"(PASSWORD|SECRET\w*):\s*(&\S+\s+)?{re.escape(default)}\s*$", text, re.M
        )


def test_make_env_writes_every_variable_compose_needs(tmp_path: Path) -> None:
    needed = {m.group("name") for m in _VARIABLE.finditer(COMPOSE_FILE.read_text())}
    assert needed
    assert needed <= DOT_ENV.keys(), f"make env does not write {needed - DOT_ENV.keys()}"
    path = tmp_path / ".env"
    assert make_env.write_env(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = dict(
        line.split("=", 1) for line in path.read_text().splitlines() if line and line[0] != "#"
    )
    assert written.keys() == DOT_ENV.keys()
    assert all(len(value) >= 32 for value in written.values())
    assert written != make_env.generated()  # random each time
    before = path.read_text()
    assert not make_env.write_env(path)  # never overwritten
    assert path.read_text() == before
    from shared.sealing import SecretBox

    SecretBox([written["CONTRAIL_SECRETS_KEY"]])  # a key the registry and notifier accept


def test_env_is_kept_out_of_git_and_the_image() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert ".env" in DOCKERIGNORE.read_text().splitlines()


# --------------------------------------------------------------------------
# Access control: .env's tokens, the one-shot auth-bootstrap, service accounts

AUTH_BOOTSTRAP = "auth-bootstrap"
# The account each service calls the others as; the registry checks credentials itself.
REMOTE_CHECKERS = [name for name in SERVICE_NAMES if name != "registry"]


def test_make_env_principals_are_the_bootstraps() -> None:
    from contrail.demo.credentials import PRINCIPALS, SERVICE_ACCOUNTS
    from services.registry.service_layer.auth import BOOTSTRAP_PRINCIPALS, token_variable

    assert tuple(make_env.PRINCIPALS) == tuple(BOOTSTRAP_PRINCIPALS) == PRINCIPALS
    assert set(SERVICE_ACCOUNTS) == set(REMOTE_CHECKERS)
    for name in BOOTSTRAP_PRINCIPALS:
        assert make_env.token_variable(name) == token_variable(name)
        assert token_variable(name) in DOT_ENV
    assert token_variable("svc-launcher") == "CONTRAIL_SVC_LAUNCHER_TOKEN"


def test_make_env_tokens_are_api_tokens_shared_auth_parses() -> None:
    from shared.auth.tokens import hash_token, token_id_of, verify_token

    tokens = [DOT_ENV[make_env.token_variable(name)] for name in make_env.PRINCIPALS]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert re.fullmatch(r"ctr_[a-z0-9]{12}_[A-Za-z0-9_\-]{43}", token), token
        assert token_id_of(token) == token.split("_")[1]
        assert verify_token(token, hash_token(token, b"salt"), b"salt")


def test_make_env_adds_missing_variables_and_keeps_existing_ones(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    # A .env of before the tokens: its passwords are in the volumes already.
    old = {name: value for name, value in make_env.generated().items() if "TOKEN" not in name}
    path.write_text("# mine\n" + "".join(f"{name}={value}\n" for name, value in old.items()))
    path.chmod(0o600)
    added = make_env.write_env(path)
    assert sorted(added) == sorted(make_env.token_variable(name) for name in make_env.PRINCIPALS)
    written = make_env.read_env(path)
    assert written.keys() == DOT_ENV.keys()
    assert {name: written[name] for name in old} == old
    assert path.read_text().startswith("# mine\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    assert make_env.write_env(path) == []
    assert path.read_text() == before  # tokens in use are never replaced


def test_auth_bootstrap_adopts_the_env_tokens_once_before_the_services(
    services: dict[str, dict[str, Any]],
) -> None:
    boot = services[AUTH_BOOTSTRAP]
    assert command_words(boot["command"]) == [
        "python",
        "-m",
        "services.registry.auth",
        "bootstrap",
        "--adopt-from-env",
    ]
    assert boot["image"] == "contrail:local"
    assert (ROOT / boot["build"]["context"] / boot["build"]["dockerfile"]).resolve() == DOCKERFILE
    # One-shot: completed_successfully is never reached by a container that restarts.
    assert str(boot.get("restart", "no")) == "no"
    assert depends_on(boot) == {"postgres": "service_healthy"}
    assert "ports" not in boot
    assert "healthcheck" not in boot


def test_auth_bootstrap_migrates_the_registrys_schema(
    services: dict[str, dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    from shared.settings import RegistrySettings

    for name, value in environment(services[AUTH_BOOTSTRAP]).items():
        clean_env.setenv(name, value)
    boot = RegistrySettings()
    registry = settings_in("registry", services, clean_env)
    assert boot.pg_dsn == registry.pg_dsn
    assert boot.schema_name == registry.schema_name


def test_auth_bootstrap_reads_every_principals_token_from_env(
    services: dict[str, dict[str, Any]],
) -> None:
    from services.registry.auth import tokens_from_env

    env = environment(services[AUTH_BOOTSTRAP])
    assert tokens_from_env(env) == {
        name: DOT_ENV[make_env.token_variable(name)] for name in make_env.PRINCIPALS
    }


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_api_services_start_after_auth_bootstrap(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    deps = depends_on(services[name])
    assert deps.get(AUTH_BOOTSTRAP) == "service_completed_successfully", deps
    for infra in INFRA_SERVICES:  # the shared depends_on keeps the infrastructure's
        assert deps.get(infra) == "service_healthy", f"{name} -> {infra}"


@pytest.mark.parametrize("name", REMOTE_CHECKERS)
def test_services_hold_their_account_token_and_reach_the_registry(
    services: dict[str, dict[str, Any]], clean_env: pytest.MonkeyPatch, name: str
) -> None:
    from contrail.demo.credentials import SERVICE_ACCOUNTS

    settings = settings_in(name, services, clean_env)
    assert settings.auth_enabled
    assert settings.service_token is not None, f"{name} has no CONTRAIL_SERVICE_TOKEN"
    expected = DOT_ENV[make_env.token_variable(SERVICE_ACCOUNTS[name])]
    assert settings.service_token.get_secret_value() == expected
    # whoami and the service's own calls go to the registry container, on its port
    url = urlsplit(settings.registry_url or "")
    registry = settings_in("registry", services, clean_env)
    assert (url.scheme, url.hostname, url.port) == ("http", "registry", registry.port)
    assert settings.registry_base_url.rstrip("/") == "http://registry:18101"


def test_registry_and_workers_hold_no_service_token(services: dict[str, dict[str, Any]]) -> None:
    for name in ("registry", WORKER):
        assert "CONTRAIL_SERVICE_TOKEN" not in environment(services[name]), name


def test_no_token_is_written_in_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"ctr_[a-z0-9]{12}_", text)
    # Each token variable is required from .env, where make env writes it.
    for name in make_env.PRINCIPALS:
        variable = make_env.token_variable(name)
        assert re.search(rf"\$\{{{variable}:\?", text), variable


def test_the_documented_sign_in_reads_the_admin_token_from_env(tmp_path: Path) -> None:
    """README's ``contrail auth login --token "$(grep ... .env | cut ...)"``, run by a shell."""
    import subprocess

    readme = (ROOT / "README.md").read_text()
    found = re.search(r'contrail auth login --token "\$\((?P<command>[^)]*)\)"', readme)
    assert found, "README signs the CLI in from .env"
    assert make_env.write_env(tmp_path / ".env")
    written = make_env.read_env(tmp_path / ".env")
    for command in (found.group("command"), "grep CONTRAIL_ADMIN_TOKEN .env | cut -d= -f2"):
        out = subprocess.run(
            ["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout
        assert out == written["CONTRAIL_ADMIN_TOKEN"] + "\n", command
    for text in (COMPOSE_FILE.read_text(), (ROOT / "docs" / "operations.md").read_text()):
        assert found.group("command") in text.replace("\\|", "|")
