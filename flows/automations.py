"""The Prefect automations of aerec's deployments: dead runs crash, failures notify.

`python -m flows.automations` (which `scripts/prefect-local start` runs)
creates them on the server in $PREFECT_API_URL, once; it is safe to re-run.

- A run whose worker died emits no more heartbeats (the worker runs with
  PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30): after ZOMBIE_WINDOW without one it is
  marked Crashed, so it stops showing Running and holding its deployment's
  concurrency slot.
- With $AEREC_NOTIFY_URL set, every aerec run that ends Failed or Crashed is
  POSTed there as JSON (`{"subject": ..., "body": ...}`) through a Custom
  Webhook block named `aerec-notify`: point it at a Slack or Teams hook, or
  any endpoint of yours.
"""

from __future__ import annotations

import os
from datetime import timedelta

from prefect.automations import Automation
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

ZOMBIE = "aerec: crash runs whose heartbeats stopped"
NOTIFY = "aerec: notify on Failed or Crashed"
NOTIFY_BLOCK = "aerec-notify"
ZOMBIE_WINDOW = timedelta(seconds=90)
_RUNS = ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]})
_ENDS = {f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Cancelled", "Crashed")}


def zombie_automation() -> Automation:
    """After each heartbeat, expect another (or an end) within ZOMBIE_WINDOW, else Crashed."""
    return Automation(
        name=ZOMBIE,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *_ENDS},
            match=_RUNS,
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=ZOMBIE_WINDOW,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message="no heartbeat for 90 s: the worker running it died",
            )
        ],
    )


def notify_automation(url: str) -> Automation:
    """POST each Failed or Crashed run to `url` (saved as the `aerec-notify` block)."""
    block = CustomWebhookNotificationBlock(
        name=NOTIFY_BLOCK, url=url, json_data={"subject": "{{subject}}", "body": "{{body}}"}
    )
    block_id = block.save(NOTIFY_BLOCK, overwrite=True)
    return Automation(
        name=NOTIFY,
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match=_RUNS,
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="aerec run {{ flow_run.name }}: {{ flow_run.state.name }}",
                body="{{ flow.name }}/{{ flow_run.name }} ended {{ flow_run.state.name }}: "
                "{{ flow_run.state.message }}",
            )
        ],
    )


def ensure(automation: Automation) -> bool:
    """Create `automation` unless one of its name exists; True when created."""
    try:
        Automation.read(name=automation.name)
        return False
    except ValueError:
        automation.create()
        return True


def main() -> None:
    wanted = [zombie_automation()]
    url = os.environ.get("AEREC_NOTIFY_URL")
    if url:
        wanted.append(notify_automation(url))
    for automation in wanted:
        state = "created" if ensure(automation) else "present"
        print(f"automation {automation.name!r}: {state}")


if __name__ == "__main__":
    main()
