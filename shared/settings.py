"""Settings, read from ``CONTRAIL_*`` environment variables.

Every process reads one model: the infrastructure it talks to (``InfraSettings``)
plus, for a service, its own listening address. Defaults match the local stack
that ``contrail demo up`` starts, so nothing needs configuring on one machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import quote

from pydantic import AliasChoices, Field, SecretStr, computed_field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAMES: tuple[str, ...] = ("registry", "launcher", "notifier", "metrics")


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "contrail"


class InfraSettings(BaseSettings):
    """Where PostgreSQL, Kafka, S3 and SMTP are, and how topics are laid out."""

    model_config = SettingsConfigDict(
        env_prefix="CONTRAIL_", extra="ignore", use_attribute_docstrings=True
    )

    # PostgreSQL: one database, one schema per service.
    pg_host: str = "127.0.0.1"
    """PostgreSQL's host."""
    pg_port: int = 55432
    """PostgreSQL's port."""
    pg_user: str = "contrail"
    """The role every service connects as (each owns its own schema)."""
    pg_password: SecretStr = SecretStr("contrail")
    """That role's password (never logged nor shown)."""
    pg_database: str = "contrail"
    """The one database; each service has a schema in it."""
    pg_pool_min: int = 1
    """Connections each process keeps open."""
    pg_pool_max: int = 10
    """The most connections each process opens."""

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:19092"
    """Kafka's bootstrap servers, comma-separated."""
    kafka_controller_port: int = 19093
    """The local stack's KRaft controller port."""
    kafka_partitions: int = 6
    """Partitions of the topics Contrail creates."""
    kafka_replication_factor: int = 1
    """Replicas of the topics Contrail creates (3 on a production cluster)."""

    # S3 (MinIO locally)
    s3_endpoint: str = "http://127.0.0.1:19000"
    """The S3 endpoint the services use."""
    s3_public_endpoint: str | None = Field(
        default=None,
        description="The S3 address clients outside the services reach, for presigned URLs "
        "(in containers the services' own address is not reachable from the host).",
    )
    s3_console_port: int = 19001
    """The local stack's MinIO console port."""
    s3_access_key: str = "contrail"
    """The S3 access key."""
    s3_secret_key: SecretStr = SecretStr("contrail-secret")
    """The S3 secret key (never logged nor shown)."""
    s3_region: str = "us-east-1"
    """The S3 region (request signing)."""
    s3_bucket: str = "contrail"
    """The bucket for code bundles, inputs too large to inline, outputs and logs."""

    # SMTP (Mailpit locally): where email notifications are sent.
    smtp_host: str = "127.0.0.1"
    """The SMTP server's host (the local stack's Mailpit)."""
    smtp_port: int = 11025
    """The SMTP server's port."""

    # Gateway (nginx): the one URL the CLI talks to.
    gateway_host: str = "127.0.0.1"
    """The gateway's host: the one address the CLI and SDK talk to."""
    gateway_port: int = 18080
    """The gateway's port."""

    # Outbox relay
    outbox_batch_size: int = 500
    """Most outbox records the relay publishes per round."""
    outbox_idle_poll_seconds: float = 5.0
    """How often an idle relay looks at the outbox without a NOTIFY."""
    outbox_retention_hours: float = 24.0
    """How long published outbox records are kept before they are purged."""

    def _dsn(self, password: str) -> str:
        user, database = quote(self.pg_user, safe=""), quote(self.pg_database, safe="")
        return f"postgresql://{user}:{password}@{self.pg_host}:{self.pg_port}/{database}"

    @property
    def pg_dsn(self) -> str:
        """The DSN to connect with. It carries the password: never log nor show it
        (``pg_dsn_masked`` is for that), and it is no field, so no dump includes it."""
        return self._dsn(quote(self.pg_password.get_secret_value(), safe=""))

    @property
    def pg_dsn_masked(self) -> str:
        """The DSN with ``***`` for the password: what may be printed."""
        return self._dsn("***")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"


class ServiceSettings(InfraSettings):
    """One service's settings: the infrastructure plus its own address."""

    service_name: ClassVar[str] = ""
    default_port: ClassVar[int] = 0

    host: str = "127.0.0.1"
    """The address the service listens on."""
    port: int = 0
    """The port the service listens on (set per service: ``CONTRAIL_<SERVICE>_PORT``)."""
    log_level: str = "INFO"
    """The level of the JSON logs."""
    shutdown_grace_seconds: float = 10.0
    """On SIGTERM, how long requests and handlers may finish."""
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="The largest request body any route reads (bytes; 413 above). Routes keep "
        "their own smaller limits (specs, inputs); code bundles go to S3, not through here.",
    )
    auth_enabled: bool = True
    """Whether requests must carry a credential (off: everyone is an all-powerful anonymous;
    for a laptop experiment only)."""
    auth_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long a checked credential is trusted without asking again: "
        "a revoked token stops working within this time on every service.",
    )
    service_token: SecretStr | None = None
    """This service's own API token, sent on its calls to the other services (never logged)."""
    registry_url: str | None = Field(
        default=None,
        description="The registry's base URL (entities, and who a credential is); the "
        "gateway's when unset.",
    )

    def model_post_init(self, __context: object) -> None:
        if self.port == 0:
            self.port = self.default_port

    @property
    def schema_name(self) -> str:
        """The PostgreSQL schema this service owns."""
        return self.service_name

    @property
    def registry_base_url(self) -> str:
        return self.registry_url or self.gateway_url


def _port_field(service: str) -> int:
    return Field(
        default=0,
        validation_alias=AliasChoices(f"CONTRAIL_{service.upper()}_PORT"),
    )


class RegistrySettings(ServiceSettings):
    service_name: ClassVar[str] = "registry"
    default_port: ClassVar[int] = 18101
    port: int = _port_field("registry")
    max_spec_bytes: int = 4 * 1024 * 1024
    """The largest entity spec accepted (bytes)."""
    max_task_spec_bytes: int = 256 * 1024
    """The largest task spec accepted (bytes, as JSON): it travels in every dispatch."""
    max_bundle_bytes: int = 256 * 1024 * 1024
    """The largest code bundle the data proxy accepts (bytes)."""
    oidc_issuer: str | None = None
    """The OIDC issuer whose JWTs are accepted as bearer credentials (none: API tokens only)."""
    oidc_audience: str | None = None
    """The audience (``aud``) those JWTs must name (required with an issuer)."""
    oidc_jwks_url: str | None = None
    """The issuer's JWKS; unset: its discovery document's, else <issuer>/.well-known/jwks.json."""
    oidc_roles_claim: str = "contrail_roles"
    """The claim listing grants: project[/domain]:role, e.g. flytesnacks:launcher, *:admin."""
    oidc_name_claim: str = "sub"
    """The claim naming the principal (e.g. email); sub when the claim is absent."""
    secrets_key: SecretStr | None = None
    """Fernet keys, comma-separated, that seal launch plans' notification secrets (the first
    seals, every one opens; the notifier needs the same). Unset: such launch plans are refused."""


class LauncherSettings(ServiceSettings):
    service_name: ClassVar[str] = "launcher"
    default_port: ClassVar[int] = 18102
    port: int = _port_field("launcher")
    engine_system_retries: int = Field(
        default=3, ge=0, description="Retries of an attempt lost to a system error (a dead worker)."
    )
    heartbeat_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A running attempt silent this long has lost its worker."
    )
    heartbeat_check_seconds: float = Field(
        default=1.0, gt=0, description="How often the engine looks for lost workers."
    )
    applied_reports_retention_hours: float = Field(
        default=24.0,
        gt=0,
        description="How long the engine remembers the ids of the reports it applied.",
    )
    console_url: str | None = Field(
        default=None, description="The console's base URL for execution links; the gateway's."
    )
    engine_fetch_max_wait_ms: int = Field(
        default=250,
        ge=0,
        description="How long an idle fetch of the engine waits at the broker (data: at once).",
    )
    engine_inline_inputs_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="A dispatch larger than this carries its inputs in S3 (inputs_uri).",
    )
    max_inputs_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="The largest inputs (as JSON) an execution accepts; pass big data as files.",
    )
    engine_batch_size: int = Field(
        default=500,
        ge=1,
        description="Most records the engine reads (and reports it applies) in one transaction.",
    )
    scheduler_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often the scheduler looks for due cron ticks."
    )
    scheduler_catch_up: Literal["latest", "all"] = Field(
        default="latest",
        description="Ticks missed while no launcher ran: fire the latest only, or all of them.",
    )
    scheduler_catch_up_limit: int = Field(
        default=100, ge=1, description="With catch-up all: the most ticks fired per round."
    )

    @property
    def console_base_url(self) -> str:
        return self.console_url or self.gateway_url


class NotifierSettings(ServiceSettings):
    service_name: ClassVar[str] = "notifier"
    default_port: ClassVar[int] = 18103
    port: int = _port_field("notifier")
    smtp_from: str = "contrail@localhost"
    """The sender address of notification emails."""
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    """TLS to the SMTP server: none (the local Mailpit), STARTTLS or implicit SSL."""
    smtp_user: str | None = None
    """The SMTP login, if the server asks for one."""
    smtp_password: SecretStr | None = None
    """The SMTP password (never logged nor shown)."""
    slack_webhook_base: str = "https://hooks.slack.com/services"
    """Where Slack webhook URLs point (a proxy or a Slack-compatible server instead)."""
    slack_api_url: str = "https://slack.com/api/{}"
    """Slack's Web API (posts by channel name with the bot token)."""
    slack_bot_token: SecretStr | None = None
    """The Slack bot token for posts by channel name."""
    teams_host: str | None = None
    """HOST[:PORT] that Teams webhook posts go to instead of the URL's own (https)."""
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    """PagerDuty's Events v2 endpoint (https://events.eu.pagerduty.com/v2/enqueue in the EU)."""
    webhook_secret: SecretStr = SecretStr("contrail-webhook-secret")
    """The HMAC-SHA256 key that signs webhook bodies (X-Contrail-Signature)."""
    secrets_key: SecretStr | None = None
    """The registry's CONTRAIL_SECRETS_KEY: opens launch plans' sealed notification secrets."""
    webhook_allowed_hosts: list[str] = [
        "127.0.0.1",
        "localhost",
        "hooks.slack.com",
        "*.webhook.office.com",
        "*.logic.azure.com",
        "*.powerautomate.com",
    ]
    """Hosts (globs) that webhook, Slack and Teams URLs may reach; others are refused (400)."""
    notifier_group: str = "contrail-notifier"
    """The notifier's consumer group on contrail.executions and contrail.registry."""
    notifier_inbox_retention_hours: float = Field(
        default=14 * 24,
        gt=0,
        description="How long consumed event ids and dedup keys are kept (longer than "
        "contrail.executions' retention, so a replay is always recognised).",
    )
    notifier_schema: str = "notifier"
    """The notifier's PostgreSQL schema (another for a second, separate notifier)."""
    notifier_executions_topic: str = "contrail.executions"
    """The topic of execution events it reads (tests give each notifier its own)."""
    notifier_max_attempts: int = Field(
        default=10, ge=1, description="Sends before a delivery is dead (10: about 13 minutes)."
    )
    notifier_retry_first_seconds: float = Field(
        default=2.0, gt=0, description="The wait after a delivery's first failed send."
    )
    notifier_retry_cap_seconds: float = Field(
        default=300.0, gt=0, description="The longest wait between two sends of a delivery."
    )
    notifier_send_interval_seconds: float = Field(
        default=0.5, gt=0, description="How often an idle sender looks for due deliveries."
    )
    notifier_send_batch: int = Field(default=50, ge=1, description="Deliveries claimed per round.")
    notifier_send_concurrency: int = Field(
        default=8, ge=1, description="Sends at once (one incident's deliveries stay in order)."
    )
    notifier_send_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long one send may take."
    )
    notifier_lease_seconds: float = Field(
        default=60.0, gt=0, description="A claimed delivery not recorded by then is sent again."
    )
    console_url: str | None = Field(
        default=None, description="The console's base URL for execution links; the gateway's."
    )

    @property
    def schema_name(self) -> str:
        return self.notifier_schema

    @property
    def console_base_url(self) -> str:
        return self.console_url or self.gateway_url


class MetricsSettings(ServiceSettings):
    service_name: ClassVar[str] = "metrics"
    default_port: ClassVar[int] = 18104
    port: int = _port_field("metrics")
    metrics_batch_size: int = Field(
        default=1000, ge=1, description="Events of contrail.executions applied per transaction."
    )
    usage_price_cpu_hour: float = Field(
        default=0.04, ge=0, description="Estimated cost of one reserved CPU-hour."
    )
    usage_price_gb_hour: float = Field(
        default=0.005, ge=0, description="Estimated cost of one reserved GB-hour (2^30 bytes)."
    )
    usage_currency: str = Field(default="USD", description="The currency of the prices.")
    usage_price_overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Prices per project or project/domain, as JSON: "
        '{"ml/prod": {"cpu_hour": 0.05, "gb_hour": 0.006}}.',
    )


class WorkerSettings(InfraSettings):
    """A launcher worker: it runs task attempts and listens on no port."""

    worker_concurrency: int = 2
    """Attempts a worker runs at once (``--concurrency``)."""
    worker_group: str = "contrail-workers"
    """The workers' consumer group on ``contrail.dispatch``."""
    worker_heartbeat_interval_seconds: float = Field(
        default=2.0, gt=0, description="How often a running attempt is reported alive."
    )
    worker_shutdown_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM, how long running attempts may still run before they are stopped.",
    )
    worker_cache_dir: Path | None = Field(
        default=None,
        description="Unpacked code bundles by digest, shared by the workers of a machine "
        "(default: <CONTRAIL_HOME>/worker-cache, else ~/.cache/contrail/worker).",
    )
    worker_log_sync_seconds: float = Field(
        default=3.0,
        gt=0,
        description="How often a running attempt's stdout and stderr are copied to S3.",
    )
    worker_max_warm_bundles: int = Field(
        default=4, ge=1, description="Code bundles that keep a warm interpreter."
    )
    worker_bundle_idle_hours: float = Field(
        default=168.0,
        gt=0,
        description="Unpacked code bundles unused this long are removed from the cache.",
    )
    worker_inline_outputs_bytes: int = Field(
        default=256 * 1024,
        ge=0,
        description="Outputs whose JSON is larger go to S3 (outputs_uri) instead of the report.",
    )
    worker_fetch_max_wait_ms: int = Field(
        default=250,
        ge=0,
        description="How long an idle fetch of contrail.dispatch waits at the broker.",
    )
    worker_test_pause_after_take_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Test only (0, off, in production): how long a taken attempt waits before "
        "its code and inputs load, so that a test can kill the worker in that window.",
    )
    home: Path | None = Field(
        default=None, description="The local stack's state folder (CONTRAIL_HOME), if any."
    )
    log_level: str = "INFO"
    """The level of the worker's JSON logs."""

    def cache_dir(self) -> Path:
        """Where code bundles are unpacked, by digest."""
        if self.worker_cache_dir is not None:
            return self.worker_cache_dir.expanduser().resolve()
        if self.home is not None:
            return (self.home / "worker-cache").expanduser().resolve()
        return Path.home() / ".cache" / "contrail" / "worker"

    def work_dir(self, worker_id: str) -> Path:
        """This worker's own folder for attempts' logs and working folders."""
        return self.cache_dir() / "work" / worker_id


SERVICE_SETTINGS: dict[str, type[ServiceSettings]] = {
    "registry": RegistrySettings,
    "launcher": LauncherSettings,
    "notifier": NotifierSettings,
    "metrics": MetricsSettings,
}


class StackSettings(InfraSettings):
    """The local stack that ``contrail demo`` manages on one machine."""

    home: Path = Field(
        default=Path(".contrail"),
        description=(
            "State of the local stack: data, logs and pid files. A relative path is taken "
            "from the checkout, so `contrail demo status` finds the stack from any folder. "
            "The stack's worker gets it too, and keeps its code cache in "
            "<CONTRAIL_HOME>/worker-cache."
        ),
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Per-user cache for downloads and builds (Maven, Go, pip).",
    )
    kafka_version: str = "4.1.1"
    """The Apache Kafka release whose jars the stack fetches from Maven Central."""
    minio_module: str = "github.com/minio/minio@latest"
    """The Go module MinIO is built from (``go install``)."""
    mailpit_module: str = "github.com/axllent/mailpit@v1.33.1"
    """The Go module Mailpit, the stack's SMTP server and web inbox, is built from."""
    mailpit_url: str = "http://127.0.0.1:18025"
    """Mailpit's web inbox and API: where the stack's emails can be read (tests read them)."""
    ready_timeout_seconds: float = 60.0
    """How long ``contrail demo up`` waits for each component to be ready."""
    worker_concurrency: int = 4
    """Attempts the stack's worker runs at once."""
    auth_enabled: bool = True
    """Whether the stack's services require a credential (handed to them as
    CONTRAIL_AUTH_ENABLED); `demo up` makes the tokens and signs the CLI in either way."""

    def service_settings(self) -> dict[str, ServiceSettings]:
        return {name: cls() for name, cls in SERVICE_SETTINGS.items()}
