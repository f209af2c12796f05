"""The notifier's channels never log a destination's secret, and open a sealed one only to send.

apprise warns about a token it finds invalid by quoting it ("An invalid Slack (first) Token
(...)"); the channels mask the current send's secrets in apprise's records. No network: each
send here fails while apprise builds its plugin, or is refused before.
"""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from services.notifier.adapters.channels import AppriseChannels, secrets_of
from services.notifier.service_layer.ports import Outgoing, SendFailed, SendRefused
from shared.sealing import SecretBox, generate_key
from shared.settings import NotifierSettings
from shared.specs import ChannelKind

SLACK = "https://hooks.slack.com/services/Tbad~SeCrEtA1/B0SeCrEtB22/TokenSeCrEtXyZ"


def outgoing(channel: ChannelKind, target: str) -> Outgoing:
    return Outgoing("d-1", "rule-1", channel, target, "title", "body", "dedup-1")


async def test_a_token_apprise_rejects_is_masked_in_its_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="apprise")
    with pytest.raises(SendFailed) as failed:
        await AppriseChannels(NotifierSettings()).send(outgoing(ChannelKind.SLACK, SLACK))
    warnings = [r.getMessage() for r in caplog.records if r.name == "apprise"]
    assert any("Token (****)" in line for line in warnings), warnings  # apprise did warn
    text = "\n".join(warnings) + str(failed.value)
    for secret in ("Tbad~SeCrEtA1", "B0SeCrEtB22", "TokenSeCrEtXyZ"):
        assert secret not in text


async def test_a_sealed_target_is_opened_for_the_send_and_refused_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = generate_key()
    sealed = SecretBox([key]).seal(SLACK)
    caplog.set_level(logging.WARNING, logger="apprise")
    with_key = AppriseChannels(NotifierSettings(secrets_key=SecretStr(key)))
    with pytest.raises(SendFailed):  # opened: apprise got the URL's tokens (and refused one)
        await with_key.send(outgoing(ChannelKind.SLACK, sealed))
    assert any("Token (****)" in r.getMessage() for r in caplog.records)
    assert "SeCrEt" not in caplog.text
    for settings in (NotifierSettings(), NotifierSettings(secrets_key=SecretStr(generate_key()))):
        with pytest.raises(SendRefused, match="CONTRAIL_SECRETS_KEY") as refused:
            await AppriseChannels(settings).send(outgoing(ChannelKind.SLACK, sealed))
        assert "SeCrEt" not in str(refused.value)


def test_the_secrets_of_a_destination_are_its_url_parts_longest_first() -> None:
    found = secrets_of("https://u:pw-123456@x.example/hook/abcdef123?sig=SIGVALUE1&v=1", None)
    assert found[0].startswith("https%3A%2F%2F")  # the quoted whole, then the whole
    assert {"abcdef123", "SIGVALUE1", "pw-123456"} <= set(found)
    assert "hook" not in found  # too short to be a secret, and an ordinary word
    assert "v" not in found
    assert secrets_of("routing-key-123", "xoxb-bot-token") == ("routing-key-123", "xoxb-bot-token")
