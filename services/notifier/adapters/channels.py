"""The channels that send, through apprise: email, Slack, Teams, PagerDuty, webhooks.

Apprise is synchronous (``requests``, ``smtplib``): each send runs in a
thread. Vendor endpoints come from the settings (proxies, PagerDuty's EU
region, Slack-compatible servers, the tests' local receivers).

The delivery id rides in every message so that a receiver can drop a
duplicate: the email's ``Message-ID`` (``<delivery-id@contrail>``), the
webhook's ``Idempotency-Key`` header, PagerDuty's ``dedup_key``. Apprise makes
its own Message-ID with ``email.utils.make_msgid``; ``_message_id`` stands in
for it while a delivery of ours is being sent (a context variable, copied into
the send's thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import fnmatch
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import make_msgid
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import apprise
import apprise.plugins.email.base as _apprise_email
import apprise.plugins.pagerduty as _apprise_pagerduty

from services.notifier.service_layer.ports import Outgoing, SendFailed, SendRefused
from shared.sealing import MASK, SealingError, SecretBox, is_sealed, open_value
from shared.settings import NotifierSettings
from shared.specs import ChannelKind

SIGNATURE_HEADER = "X-Contrail-Signature"
"""``sha256=<hex HMAC-SHA256 of the raw body with the webhook secret>``."""
IDEMPOTENCY_HEADER = "Idempotency-Key"

# Their DEBUG lines print webhook URLs and payloads (where tokens live): never logged.
for _name in ("apprise", "urllib3", "requests"):
    logging.getLogger(_name).setLevel(logging.WARNING)

_delivery_message_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "contrail_message_id", default=None
)
# The secrets of the send in progress: apprise's warnings quote a token it finds invalid.
_send_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "contrail_send_secrets", default=()
)


class _MaskSendSecrets(logging.Filter):
    """Writes ``****`` for the current send's secrets in apprise's log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _send_secrets.get()
        if secrets:
            text = record.getMessage()
            masked = text
            for secret in secrets:
                masked = masked.replace(secret, MASK)
            if masked != text:
                record.msg, record.args = masked, None
        return True


logging.getLogger("apprise").addFilter(_MaskSendSecrets())


def secrets_of(target: str, *more: str | None) -> tuple[str, ...]:
    """What of a destination may be a credential: the whole of it, and each path segment,
    user info and query value of a URL (a Slack token, a Teams ``sig``); longest first."""
    found = {target, quote(target, safe="")}
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        found.update(segment for segment in parts.path.split("/"))
        found.update(value for _, value in parse_qsl(parts.query, keep_blank_values=True))
        found.update(v for v in (parts.username, parts.password) if v)
    found.update(v for v in more if v)
    # Short pieces (``services``, ``v1``) are no secret and would mask ordinary words.
    return tuple(sorted((s for s in found if len(s) >= 6), key=len, reverse=True))


def _message_id(idstring: str | None = None, domain: str | None = None) -> str:
    ours = _delivery_message_id.get()
    return ours if ours is not None else make_msgid(idstring, domain)


_apprise_email.make_msgid = _message_id  # type: ignore[attr-defined]


def message_id(delivery_id: str) -> str:
    """The Message-ID of the email of ``delivery_id``."""
    return f"<{delivery_id}@contrail>"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class AppriseChannels:
    """Sends one message through the apprise plugin of its channel."""

    settings: NotifierSettings

    def __post_init__(self) -> None:
        self._box = SecretBox.from_setting(self.settings.secrets_key)

    async def send(self, message: Outgoing) -> None:
        message = self._opened(message)
        s = self.settings
        secrets = secrets_of(
            message.target,
            s.slack_bot_token.get_secret_value() if s.slack_bot_token else None,
            s.smtp_password.get_secret_value() if s.smtp_password else None,
        )
        masking = _send_secrets.set(secrets)
        try:
            self._check_host(message)
            send = self._plugin_call(message)
            context = contextvars.copy_context()
            context.run(_delivery_message_id.set, message_id(message.delivery_id))
            ok = await asyncio.wait_for(
                asyncio.to_thread(context.run, send), s.notifier_send_timeout_seconds
            )
        finally:
            _send_secrets.reset(masking)
        if not ok:
            raise SendFailed(f"{message.channel.value}: the receiver did not accept the message")

    def _opened(self, message: Outgoing) -> Outgoing:
        """A launch plan's sealed destination, opened just for the send (never stored)."""
        if not is_sealed(message.target):
            return message
        try:
            return replace(message, target=open_value(self._box, message.target))
        except SealingError as exc:
            raise SendRefused(f"{message.channel.value}: {exc}") from None

    def _check_host(self, message: Outgoing) -> None:
        """A launch plan's webhook, Slack or Teams URL, too, may only reach an allowed host."""
        if message.channel not in (ChannelKind.WEBHOOK, ChannelKind.SLACK, ChannelKind.TEAMS):
            return
        if not message.target.startswith(("http://", "https://")):
            return
        host = urlsplit(message.target).hostname or ""
        if not any(fnmatch.fnmatchcase(host, p) for p in self.settings.webhook_allowed_hosts):
            raise SendRefused(
                f"{message.channel.value}: host {host!r} is not allowed "
                "(CONTRAIL_WEBHOOK_ALLOWED_HOSTS)"
            )

    def _plugin_call(self, message: Outgoing) -> Callable[[], bool]:
        kind = message.channel
        if kind is ChannelKind.EMAIL:
            plugin = self._email(message)
        elif kind is ChannelKind.SLACK:
            plugin = self._slack(message)
        elif kind is ChannelKind.TEAMS:
            plugin = _instantiate(message.target)
            if self.settings.teams_host:  # a proxy in front of Teams (apprise keeps https)
                host, _, port = self.settings.teams_host.partition(":")
                plugin.host, plugin.port = host, int(port) if port else None
        elif kind is ChannelKind.PAGERDUTY:
            plugin = self._pagerduty(message)
        else:
            return self._webhook(message)
        notify_type = apprise.NotifyType.SUCCESS if message.resolve else apprise.NotifyType.FAILURE

        def call() -> bool:
            return bool(
                plugin.notify(body=message.body, title=message.title, notify_type=notify_type)
            )

        return call

    def _email(self, message: Outgoing) -> Any:
        s = self.settings
        secure = s.smtp_tls != "none"
        auth = ""
        if s.smtp_user:
            password = s.smtp_password.get_secret_value() if s.smtp_password else ""
            auth = f"{quote(s.smtp_user, safe='')}:{quote(password, safe='')}@"
        mode = {"none": "", "starttls": "&mode=starttls", "ssl": "&mode=ssl"}[s.smtp_tls]
        url = (
            f"{'mailtos' if secure else 'mailto'}://{auth}{s.smtp_host}:{s.smtp_port}"
            f"?smtp={s.smtp_host}&from={quote(s.smtp_from)}&to={quote(message.target)}"
            f"&format=text{mode}&user={quote(s.smtp_user or '')}"
        )
        plugin = _instantiate(url)
        plugin.headers.update(
            {"X-Contrail-Delivery-Id": message.delivery_id, "X-Contrail-Rule": message.rule_id}
        )
        if not s.smtp_user:
            plugin.user = None
            plugin.password = None
        return plugin

    def _slack(self, message: Outgoing) -> Any:
        s = self.settings
        target = message.target
        if target.startswith(("http://", "https://")):
            path = urlsplit(target).path.rstrip("/").split("/")
            plugin = _instantiate(
                "slack://" + "/".join(quote(p, safe="") for p in path[-3:]) + "/?footer=no"
            )
            plugin.webhook_url = s.slack_webhook_base.rstrip("/")
        else:
            if s.slack_bot_token is None:
                raise SendFailed("slack: a channel name needs CONTRAIL_SLACK_BOT_TOKEN")
            token = s.slack_bot_token.get_secret_value()
            channel = target if target.startswith(("#", "@")) else f"#{target}"
            plugin = _instantiate(f"slack://{token}/{quote(channel, safe='')}?footer=no")
            plugin.api_url = s.slack_api_url
        return plugin

    def _pagerduty(self, message: Outgoing) -> Any:
        url = self.settings.pagerduty_events_url
        _apprise_pagerduty.PAGERDUTY_API_LOOKUP[url] = url  # an endpoint of our own
        action = "resolve" if message.resolve else "trigger"
        plugin = _instantiate(
            f"pagerduty://{quote(message.target, safe='')}@contrail"
            f"?action={action}&dedup={quote(message.dedup_key, safe='')}&image=no"
            "&source=contrail&component=contrail"
        )
        plugin.region_name = url
        return plugin

    def _webhook(self, message: Outgoing) -> Callable[[], bool]:
        # The JSON plugin's body, rebuilt here byte for byte so that it can be signed:
        # apprise posts json.dumps(payload) with its fields in this order, then extras.
        parts = urlsplit(message.target)
        payload: dict[str, Any] = {
            "version": "1.0",
            "title": message.title,
            "message": message.body,
            "attachments": [],
            "type": apprise.NotifyType.SUCCESS.value
            if message.resolve
            else apprise.NotifyType.FAILURE.value,
            "contrail": message.data,
        }
        body = json.dumps(payload).encode()
        scheme = "jsons" if parts.scheme == "https" else "json"
        plugin = _instantiate(f"{scheme}://{parts.netloc}{parts.path or '/'}")
        plugin.payload_extras = {"contrail": message.data}
        plugin.headers.update(
            {
                SIGNATURE_HEADER: sign(self.settings.webhook_secret.get_secret_value(), body),
                IDEMPOTENCY_HEADER: message.delivery_id,
            }
        )
        if parts.query:
            plugin.params = dict(parse_qsl(parts.query, keep_blank_values=True))
        notify_type = apprise.NotifyType.SUCCESS if message.resolve else apprise.NotifyType.FAILURE

        def call() -> bool:
            return bool(
                plugin.notify(body=message.body, title=message.title, notify_type=notify_type)
            )

        return call


def _instantiate(url: str) -> Any:
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        # Never the URL itself: it may hold a token.
        raise SendFailed("the channel's address is not one apprise can send to")
    return plugin
