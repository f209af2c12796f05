"""Secrets inside specs, sealed: Fernet under ``CONTRAIL_SECRETS_KEY``, shown as ``****``.

A launch plan's notifications carry secrets: Slack and Teams webhook URLs
(their path is the credential), PagerDuty routing keys and webhook URLs
(whose path or query often is one). The registry seals them when it stores
the launch plan, so that its row, its API answers and anything copied from
them hold only ``enc:v1:<Fernet token>``; the notifier, which has the same
key, opens them when it sends. The SDK and CLI show ``****``.

The setting is a comma-separated list of Fernet keys: the first seals, every
one opens (rotation: put the new key first, keep the old one until the
launch plans sealed under it are no longer needed). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from shared.specs import ChannelKind, LaunchPlanSpec, Notification

SEALED_PREFIX = "enc:v1:"
"""What every sealed value starts with (the version of the scheme)."""
MASK = "****"
"""How a secret is shown."""


class SealingError(ValueError):
    """No key to seal with, or a sealed value that none of the keys opens."""


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def generate_key() -> str:
    """A new random key, in the form ``CONTRAIL_SECRETS_KEY`` takes."""
    return Fernet.generate_key().decode()


class SecretBox:
    """Seals and opens secrets with the keys of ``CONTRAIL_SECRETS_KEY``."""

    def __init__(self, keys: Iterable[str]) -> None:
        fernets = []
        for i, key in enumerate(k.strip() for k in keys):
            if not key:
                continue
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                # Never the key itself in the message.
                raise SealingError(
                    f"CONTRAIL_SECRETS_KEY: key #{i + 1} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with "
                    "`python -c 'from shared.sealing import generate_key; print(generate_key())'`)"
                ) from None
        if not fernets:
            raise SealingError("CONTRAIL_SECRETS_KEY holds no key")
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, setting: SecretStr | None) -> SecretBox | None:
        """The box of a ``secrets_key`` setting; None when it is unset or empty."""
        if setting is None or not setting.get_secret_value().strip():
            return None
        return cls(setting.get_secret_value().split(","))

    def seal(self, plaintext: str) -> str:
        """``plaintext`` sealed under the first key; a sealed value is returned as is."""
        if is_sealed(plaintext):
            return plaintext
        return SEALED_PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, value: str) -> str:
        """The plaintext of a sealed value (any key); a value not sealed is returned as is.

        Raises:
            SealingError: sealed under none of the keys, or damaged.
        """
        if not is_sealed(value):
            return value
        try:
            return self._fernet.decrypt(value[len(SEALED_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SealingError(
                "a sealed secret that none of the keys of CONTRAIL_SECRETS_KEY opens"
            ) from None


def open_value(box: SecretBox | None, value: str) -> str:
    """``value``'s plaintext; a sealed value without a box is an error, not passed on."""
    if box is None and is_sealed(value):
        raise SealingError("a sealed secret, and no CONTRAIL_SECRETS_KEY to open it")
    return box.open(value) if box is not None else value


# --- which values of a launch plan are secrets -------------------------------------------


def is_secret_recipient(channel: ChannelKind, recipient: str) -> bool:
    """Whether a recipient of a notification is a credential.

    Email addresses and Slack channel names are not; Slack and Teams webhook
    URLs, PagerDuty routing keys and webhook URLs are.
    """
    if channel is ChannelKind.EMAIL:
        return False
    if channel is ChannelKind.SLACK:
        return is_sealed(recipient) or recipient.startswith(("http://", "https://"))
    return True


def _map_secrets(spec: LaunchPlanSpec, change: Callable[[str], str]) -> LaunchPlanSpec:
    if not spec.notifications:
        return spec
    notifications = [
        Notification.model_validate(
            {
                **n.model_dump(),
                "recipients": [
                    change(r) if is_secret_recipient(n.channel, r) else r for r in n.recipients
                ],
            }
        )
        for n in spec.notifications
    ]
    return spec.model_copy(update={"notifications": notifications})


def has_secrets(spec: LaunchPlanSpec) -> bool:
    return any(is_secret_recipient(n.channel, r) for n in spec.notifications for r in n.recipients)


def seal_launch_plan(spec: LaunchPlanSpec, box: SecretBox) -> LaunchPlanSpec:
    """``spec`` with every notification secret sealed (sealed ones are kept)."""
    return _map_secrets(spec, box.seal)


def open_launch_plan(spec: LaunchPlanSpec, box: SecretBox | None) -> LaunchPlanSpec:
    """``spec`` with every sealed notification secret opened.

    Raises:
        SealingError: a sealed value that no key opens, or no box for one.
    """
    return _map_secrets(spec, lambda value: open_value(box, value))


def mask_launch_plan(spec: LaunchPlanSpec) -> LaunchPlanSpec:
    """``spec`` with every notification secret, sealed or not, shown as ``****``."""
    return _map_secrets(spec, lambda _value: MASK)


def secret_values(spec: LaunchPlanSpec) -> set[str]:
    """The notification secrets of ``spec`` (as they are: plaintext or sealed)."""
    return {
        r for n in spec.notifications for r in n.recipients if is_secret_recipient(n.channel, r)
    }


def mask_values(document: Any, secrets: set[str]) -> Any:
    """A JSON document with every string of ``secrets`` (and every sealed one) as ``****``."""
    if isinstance(document, str):
        return MASK if document in secrets or is_sealed(document) else document
    if isinstance(document, dict):
        return {key: mask_values(value, secrets) for key, value in document.items()}
    if isinstance(document, list):
        return [mask_values(value, secrets) for value in document]
    return document


def mask_sealed(document: Any) -> Any:
    """A JSON document with every sealed string replaced by ``****`` (for display)."""
    return mask_values(document, set())
