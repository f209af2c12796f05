"""Launch plans' notification secrets: sealed with Fernet, shown as ****, compared in plaintext.

Pure: ``shared.sealing`` and the registry's registration use case on in-memory fakes.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from contrail.cli.output import OutputFormat, render_document
from contrail.demo.layout import Layout
from contrail.demo.secrets_key import ensure_secrets_key, secrets_key_env
from services.notifier.service_layer.subscriptions import redact_target
from services.registry.service_layer import registration
from services.registry.service_layer.errors import Conflict, InvalidRequest
from shared.identifiers import Identifier, ResourceType
from shared.literals import INT, STR
from shared.phases import ExecutionPhase
from shared.sealing import (
    MASK,
    SealingError,
    SecretBox,
    generate_key,
    has_secrets,
    is_sealed,
    mask_launch_plan,
    mask_sealed,
    open_launch_plan,
    seal_launch_plan,
)
from shared.specs import ChannelKind, LaunchPlanSpec, Notification
from tests.integration.registry_support import greeting_workflow, launch_plan, task_spec
from tests.unit.fakes_registry import FakeRegistryUoWFactory

SLACK = "https://hooks.slack.com/services/T000/B000/sEcReTsLaCkPaTh"
TEAMS = "https://x.webhook.office.com/workflows/abc?sig=TeAmSsIg"
PAGERDUTY = "pd-routing-key-0123456789abcdef"
WEBHOOK = "https://hooks.example.com/in?token=WeBhOoKtOkEn"
EMAIL = "oncall@example.com"
SECRETS = (SLACK, TEAMS, PAGERDUTY, WEBHOOK)


def notifying_plan(name: str = "lp.greet", pagerduty: str = PAGERDUTY) -> LaunchPlanSpec:
    def n(kind: ChannelKind, *recipients: str) -> Notification:
        return Notification(phases=[ExecutionPhase.FAILED], channel=kind, recipients=[*recipients])

    return launch_plan(
        name,
        "wf.greet",
        notifications=[
            n(ChannelKind.EMAIL, EMAIL),
            n(ChannelKind.SLACK, SLACK, "#alerts"),
            n(ChannelKind.TEAMS, TEAMS),
            n(ChannelKind.PAGERDUTY, pagerduty),
            n(ChannelKind.WEBHOOK, WEBHOOK),
        ],
    )


def recipients(spec: LaunchPlanSpec) -> list[str]:
    return [r for n in spec.notifications for r in n.recipients]


# --- the box ----------------------------------------------------------------------------


def test_a_sealed_value_is_opaque_and_opens_to_its_plaintext() -> None:
    box = SecretBox([generate_key()])
    sealed = box.seal(SLACK)
    assert is_sealed(sealed)
    assert "sEcReT" not in sealed
    assert "hooks.slack.com" not in sealed
    assert box.seal(SLACK) != sealed  # randomized: equal secrets do not show as equal
    assert box.open(sealed) == SLACK
    assert box.seal(sealed) == sealed  # sealing twice keeps it
    assert box.open("plain") == "plain"  # stored before sealing existed


def test_rotation_the_first_key_seals_and_every_key_opens() -> None:
    old, new = generate_key(), generate_key()
    sealed_old = SecretBox([old]).seal(PAGERDUTY)
    rotated = SecretBox.from_setting(SecretStr(f"{new}, {old}"))
    assert rotated is not None
    assert rotated.open(sealed_old) == PAGERDUTY
    assert SecretBox([new]).open(rotated.seal(PAGERDUTY)) == PAGERDUTY
    with pytest.raises(SealingError, match="none of the keys") as refused:
        SecretBox([new]).open(sealed_old)
    assert PAGERDUTY not in str(refused.value)


def test_a_bad_or_missing_key_is_refused_without_showing_it() -> None:
    assert SecretBox.from_setting(None) is None
    assert SecretBox.from_setting(SecretStr("  ")) is None
    with pytest.raises(SealingError, match="key #1 is not a Fernet key") as refused:
        SecretBox(["not-a-key-at-all"])
    assert "not-a-key-at-all" not in str(refused.value)


def test_only_credentials_are_sealed_and_masked() -> None:
    box = SecretBox([generate_key()])
    plan = notifying_plan()
    assert has_secrets(plan)
    sealed = seal_launch_plan(plan, box)
    text = sealed.model_dump_json()
    for secret in SECRETS:
        assert secret not in text
    assert EMAIL in text
    assert "#alerts" in text
    assert open_launch_plan(sealed, box) == plan
    masked = recipients(mask_launch_plan(sealed))
    assert masked == [EMAIL, MASK, "#alerts", MASK, MASK, MASK]
    assert mask_launch_plan(plan) == mask_launch_plan(sealed)
    with pytest.raises(SealingError):
        open_launch_plan(sealed, None)
    assert not has_secrets(launch_plan("lp.quiet", "wf.greet"))


def test_display_masks_every_sealed_string() -> None:
    box = SecretBox([generate_key()])
    document = {"spec": json.loads(seal_launch_plan(notifying_plan(), box).model_dump_json())}
    shown = mask_sealed(document)
    assert "enc:v1:" not in json.dumps(shown)
    for fmt in (OutputFormat.JSON, OutputFormat.YAML):
        rendered = render_document(document, fmt)
        assert "enc:v1:" not in rendered
        assert MASK in rendered
        assert EMAIL in rendered
    assert redact_target("slack", box.seal(SLACK)) == MASK


# --- registration -------------------------------------------------------------------------


def ident(kind: ResourceType, name: str) -> Identifier:
    return Identifier(
        resource_type=kind, project="flowers", domain="development", name=name, version="v1"
    )


LP = ident(ResourceType.LAUNCH_PLAN, "lp.greet")


@pytest.fixture
async def registry() -> FakeRegistryUoWFactory:
    registry = FakeRegistryUoWFactory()
    for spec in (task_spec("wf.say_hello"), task_spec("wf.length", {"greeting": STR}, {"o0": INT})):
        await registration.register_task(registry, ident(ResourceType.TASK, spec.name), spec)
    workflow = greeting_workflow("wf.greet", "wf.say_hello", "wf.length")
    await registration.register_workflow(
        registry, ident(ResourceType.WORKFLOW, "wf.greet"), workflow
    )
    return registry


def stored(registry: FakeRegistryUoWFactory) -> bytes:
    spec_bytes = registry.state.entities[LP].spec_bytes
    assert spec_bytes is not None
    return spec_bytes


async def test_the_stored_launch_plan_holds_only_ciphertext_and_the_same_plaintext_is_unchanged(
    registry: FakeRegistryUoWFactory,
) -> None:
    key = generate_key()
    box = SecretBox([key])
    first = await registration.register_launch_plan(registry, LP, notifying_plan(), box)
    assert first.created
    row = stored(registry)
    for secret in SECRETS:
        assert secret.encode() not in row
    assert open_launch_plan(LaunchPlanSpec.model_validate_json(row), box) == notifying_plan()

    again = await registration.register_launch_plan(registry, LP, notifying_plan(), box)
    assert (again.created, again.digest) == (False, first.digest)
    # The spec as the API answers it (sealed) registers as the same, too.
    read_back = LaunchPlanSpec.model_validate_json(row)
    assert not (await registration.register_launch_plan(registry, LP, read_back, box)).created
    # After a rotation, under the new key first.
    rotated = SecretBox([generate_key(), key])
    assert not (
        await registration.register_launch_plan(registry, LP, notifying_plan(), rotated)
    ).created
    assert stored(registry) == row


async def test_a_different_secret_is_a_conflict_that_names_the_field_not_the_values(
    registry: FakeRegistryUoWFactory,
) -> None:
    box = SecretBox([generate_key()])
    await registration.register_launch_plan(registry, LP, notifying_plan(), box)
    other = "pd-routing-key-OTHER-fedcba9876"
    with pytest.raises(Conflict) as conflict:
        await registration.register_launch_plan(registry, LP, notifying_plan(pagerduty=other), box)
    text = str(conflict.value) + json.dumps(conflict.value.details)
    for secret in (*SECRETS, other):
        assert secret not in text
    assert "enc:v1:" not in text
    assert conflict.value.details == [
        {
            "path": "notifications[3].recipients[0]",
            "registered": MASK,
            "submitted": MASK,
            "change": "changed",
        }
    ]


async def test_secrets_without_a_key_or_that_no_key_opens_are_refused_storing_nothing(
    registry: FakeRegistryUoWFactory,
) -> None:
    with pytest.raises(InvalidRequest, match="CONTRAIL_SECRETS_KEY") as refused:
        await registration.register_launch_plan(registry, LP, notifying_plan(), None)
    assert PAGERDUTY not in str(refused.value)
    foreign = seal_launch_plan(notifying_plan(), SecretBox([generate_key()]))
    with pytest.raises(InvalidRequest, match="none of the keys"):
        await registration.register_launch_plan(registry, LP, foreign, SecretBox([generate_key()]))
    assert LP not in registry.state.entities
    # Without secrets, no key is needed.
    quiet = launch_plan("lp.greet", "wf.greet")
    assert (await registration.register_launch_plan(registry, LP, quiet, None)).created


# --- the local stack's key -----------------------------------------------------------------


def test_the_stack_makes_its_key_once_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONTRAIL_SECRETS_KEY", raising=False)
    layout = Layout(home=tmp_path / "home", cache=tmp_path / "cache", repo=tmp_path)
    key = ensure_secrets_key(layout)
    path = layout.home / "secrets" / "secrets.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    SecretBox([key])  # a valid key
    assert ensure_secrets_key(layout) == key
    assert secrets_key_env("registry", layout) == {"CONTRAIL_SECRETS_KEY": key}
    assert secrets_key_env("notifier", layout) == {"CONTRAIL_SECRETS_KEY": key}
    assert secrets_key_env("launcher", layout) == {}
