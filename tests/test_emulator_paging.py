"""The emulator's pages stay right while what they list changes (issue 13 made its listings
linear: cursors over a stable order instead of offsets into a list rebuilt for every page).

An offset into the listing as it stands at each page skips an item whenever one before the
cursor leaves the listing between two pages (a command finishing, a node stopping); a cursor in
the order things were sent (AWS's NextToken is opaque) neither skips nor repeats one. These go
through boto3 (request validation against the service model) to the emulator.
"""

from __future__ import annotations

from typing import Any

from patchwave.fleet import PatchCommand
from patchwave.sim.emulator import emulated_aws_fleet
from patchwave.sim.fleet import PATCH_DOCUMENT
from tests.helpers import group, ids, spec, world

EXECUTING = [
    {"key": "ExecutionStage", "value": "Executing"},
    {"key": "DocumentName", "value": PATCH_DOCUMENT},
]


def _page(ssm: Any, token: str | None) -> tuple[list[str], str | None]:
    extra = {"NextToken": token} if token else {}
    answer = ssm.list_commands(Filters=EXECUTING, MaxResults=2, **extra)
    return [c["CommandId"] for c in answer["Commands"]], answer.get("NextToken")


def test_list_commands_next_token_holds_across_commands_finishing_and_sent(config) -> None:
    members = ids("e1", 8)
    sim, _ = world(spec([group("a", members)]), config.baselines)
    adapter, emulator = emulated_aws_fleet(sim)
    sent = [
        adapter.send_patch_command(PatchCommand((iid,), "Scan", "NoReboot", "s", "r")) for iid in members[:6]
    ]
    ssm = adapter.clients.ssm
    first, token = _page(ssm, None)
    assert first == sent[:2] and token
    adapter.cancel_command(sent[0], [members[0]])  # on the page already read
    adapter.cancel_command(sent[2], [members[2]])  # not read yet: it will not be listed
    late = adapter.send_patch_command(PatchCommand((members[6],), "Scan", "NoReboot", "s", "r"))
    second, token = _page(ssm, token)
    assert second == [sent[3], sent[4]]  # an offset would have skipped sent[3]
    third, token = _page(ssm, token)
    assert third == [sent[5], late] and token is None
    seen = first + second + third
    assert len(seen) == len(set(seen))
    # every page was one call, and a listing from the start now has only what still executes
    assert emulator.calls.count("ListCommands") == 3
    everything: list[str] = []
    token = None
    while True:
        page, token = _page(ssm, token)
        everything += page
        if token is None:
            break
    assert everything == [sent[1], sent[3], sent[4], sent[5], late]


def test_list_commands_invoked_after_pages_from_the_first_command_after_the_moment(config) -> None:
    members = ids("e2", 5)
    sim, clock = world(spec([group("a", members)]), config.baselines)
    adapter, _ = emulated_aws_fleet(sim)
    early = [
        adapter.send_patch_command(PatchCommand((i,), "Scan", "NoReboot", "s", "r")) for i in members[:2]
    ]
    clock.sleep(600)
    moment = clock.now()
    later = [
        adapter.send_patch_command(PatchCommand((i,), "Scan", "NoReboot", "s", "r")) for i in members[2:]
    ]
    after = [{"key": "InvokedAfter", "value": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}]
    found: list[str] = []
    kwargs: dict[str, Any] = {"Filters": after, "MaxResults": 1}
    while True:
        answer = adapter.clients.ssm.list_commands(**kwargs)
        found += [c["CommandId"] for c in answer["Commands"]]
        if "NextToken" not in answer:
            break
        kwargs["NextToken"] = answer["NextToken"]
    assert found == later and not set(found) & set(early)


def test_describe_instance_information_pages_hold_across_a_node_stopping(config) -> None:
    members = ids("e3", 9)
    sim, clock = world(spec([group("a", members)], stop_at_minutes={members[1]: 1}), config.baselines)
    adapter, emulator = emulated_aws_fleet(sim)
    ssm = adapter.clients.ssm
    first = ssm.describe_instance_information(MaxResults=5)
    assert [i["InstanceId"] for i in first["InstanceInformationList"]] == members[:5]
    clock.sleep(120)  # members[1], on the page already read, stops: it leaves the listing
    second = ssm.describe_instance_information(MaxResults=5, NextToken=first["NextToken"])
    assert [i["InstanceId"] for i in second["InstanceInformationList"]] == members[5:]
    assert "NextToken" not in second  # no later node is listed: no empty page to ask for
    again = [
        i["InstanceId"] for i in ssm.describe_instance_information(MaxResults=50)["InstanceInformationList"]
    ]
    assert again == [m for m in members if m != members[1]]
    assert emulator.calls == ["DescribeInstanceInformation"] * 3
