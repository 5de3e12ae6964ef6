"""Instance leases in a DynamoDB table: shared by every worker on every machine.

One item per leased instance: ``instance_id`` (the key), ``run_id`` (the holder),
``expires_at`` (epoch seconds: the lease's longest span; also the table's TTL attribute, so
DynamoDB sweeps leases of runs that died) and ``heartbeat_at`` (the holder's last sign of life).
A lease is live while ``expires_at`` is ahead and ``heartbeat_at`` is fresher than
``stale_after`` (the lease design of ``patchwave.state.leases``). TTL deletion is lazy (hours),
so liveness is decided by the conditions below, never by the item's presence:

- acquire: ``PutItem`` on condition that nobody holds it, or we do, or the lease expired, or its
  holder's heartbeat is stale (``dynamodb:PutItem``); a refusal returns the holder's item in the
  same call;
- heartbeat: ``UpdateItem`` of ``heartbeat_at`` on every lease this run took here, on condition
  we still hold it (``dynamodb:UpdateItem``); leases lost meanwhile (we were stale and another
  run took them) are kept in ``lost``, never silently retaken;
- release: ``DeleteItem`` on condition we hold it (``dynamodb:DeleteItem``);
- holders: ``BatchGetItem`` by 50 keys (``dynamodb:BatchGetItem``), consistent reads;
- ``patchwave leases list|release``: ``Scan`` of the table (``dynamodb:Scan``), then the
  conditional deletes above.

Each lease also records ``holder``, the token of the process that took it. A run itself is
claimed by one process (``patchwave.state.run_claim``) in an item keyed ``run#RUN_ID``:
``holder`` and ``heartbeat_at`` (wall-clock epoch seconds, fractional), taken by a conditional
``PutItem`` (free, ours, or its heartbeat stale), beaten by a conditional ``UpdateItem``, freed
by a conditional ``DeleteItem``; its ``expires_at`` (a day on) lets TTL sweep a dead run's.
A process whose run another live process has claimed takes no lease of it.

``patchwave setup`` creates the table when missing (``dynamodb:DescribeTable``, its tags need
``dynamodb:TagResource``, ``dynamodb:CreateTable``, ``dynamodb:UpdateTimeToLive``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from patchwave.state.holder import RunHolder, held_elsewhere, holder_token
from patchwave.state.leases import Holder, stale_after_default

CHUNK = 50
RUN_KEY = "run#"
CLAIM_FREE = "attribute_not_exists(instance_id) OR holder = :me OR heartbeat_at <= :stale"
HELD = "attribute_not_exists(instance_id) OR run_id = :me OR expires_at <= :now OR heartbeat_at <= :stale"


def _epoch(moment: dt.datetime) -> str:
    return str(int(moment.timestamp()))


def ensure_table(dynamodb: Any, table: str) -> bool:
    """Create the lease table (on-demand billing, TTL on ``expires_at``) when it is missing;
    True when it was created. Idempotent: an existing table is left as it is."""
    try:
        dynamodb.describe_table(TableName=table)
        return False
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "instance_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "instance_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "patchwave", "Value": "leases"}],
    )
    dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    return True


def _refused(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


class DynamoLeases:
    """The ``Leases`` port on a DynamoDB table (see the module docstring for each call)."""

    def __init__(self, dynamodb: Any, table: str, stale_after: dt.timedelta | None = None) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.stale_after = stale_after or stale_after_default()
        self._mine: dict[str, set[str]] = {}  # run id -> the leases it took through this object
        self.lost: dict[str, set[str]] = {}

    def acquire(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> dict[str, str]:
        refused: dict[str, str] = {}
        if held_elsewhere(self.run_holder(run_id), self.stale_after):
            return {iid: run_id for iid in instance_ids}  # the run is another live process's
        for iid in instance_ids:
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        "instance_id": {"S": iid},
                        "run_id": {"S": run_id},
                        "expires_at": {"N": _epoch(until)},
                        "heartbeat_at": {"N": _epoch(now)},
                        "holder": {"S": holder_token()},
                    },
                    ConditionExpression=HELD,
                    ExpressionAttributeValues={
                        ":me": {"S": run_id},
                        ":now": {"N": _epoch(now)},
                        ":stale": {"N": _epoch(now - self.stale_after)},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                self._mine.setdefault(run_id, set()).add(iid)
            except ClientError as exc:
                if not _refused(exc):
                    raise
                refused[iid] = exc.response.get("Item", {}).get("run_id", {}).get("S", "another run")
        if self._mine.get(run_id):
            self.heartbeat(run_id, now)  # taking leases is a sign of life for those already held
        return refused

    def heartbeat(self, run_id: str, now: dt.datetime) -> None:
        """This run is alive: every lease it holds here stays live ``stale_after`` more."""
        for iid in sorted(self._mine.get(run_id, ())):
            try:
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key={"instance_id": {"S": iid}},
                    UpdateExpression="SET heartbeat_at = :now",
                    ConditionExpression="run_id = :me AND heartbeat_at <= :now",
                    ExpressionAttributeValues={":me": {"S": run_id}, ":now": {"N": _epoch(now)}},
                )
            except ClientError as exc:
                if not _refused(exc):
                    raise
                if run_id not in self.holders([iid], now).values():
                    self._mine[run_id].discard(iid)
                    self.lost.setdefault(run_id, set()).add(iid)

    def release(self, run_id: str, instance_ids: Sequence[str]) -> None:
        for iid in instance_ids:
            try:
                self.dynamodb.delete_item(
                    TableName=self.table,
                    Key={"instance_id": {"S": iid}},
                    ConditionExpression="run_id = :me",
                    ExpressionAttributeValues={":me": {"S": run_id}},
                )
            except ClientError as exc:
                if not _refused(exc):  # someone else's now (ours expired): not ours to delete
                    raise
            self._mine.get(run_id, set()).discard(iid)

    def items(self, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The lease items of these instances as they are stored (expired ones included)."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(instance_ids))
        for start in range(0, len(unique), CHUNK):
            keys: list[dict[str, Any]] = [
                {"instance_id": {"S": iid}} for iid in unique[start : start + CHUNK]
            ]
            while keys:
                answer = self.dynamodb.batch_get_item(
                    RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
                )
                for item in answer["Responses"].get(self.table, []):
                    found[item["instance_id"]["S"]] = _plain(item)
                keys = answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return found

    def holders(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
        moment, fresh = int(now.timestamp()), int((now - self.stale_after).timestamp())
        return {
            iid: item["run_id"]
            for iid, item in self.items(instance_ids).items()
            if item["expires_at"] > moment and item["heartbeat_at"] > fresh
        }

    # one process per run (patchwave.state.run_claim); heartbeats here are wall-clock seconds
    def claim_run(self, run_id: str, holder: str, now: dt.datetime) -> RunHolder | None:
        stamp = now.timestamp()
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "instance_id": {"S": RUN_KEY + run_id},
                    "run_id": {"S": run_id},
                    "holder": {"S": holder},
                    "heartbeat_at": {"N": f"{stamp:.3f}"},
                    "expires_at": {"N": str(int(stamp) + 86_400)},
                },
                ConditionExpression=CLAIM_FREE,
                ExpressionAttributeValues={
                    ":me": {"S": holder},
                    ":stale": {"N": f"{stamp - self.stale_after.total_seconds():.3f}"},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as exc:
            if not _refused(exc):
                raise
            item = exc.response.get("Item")
            return _claim(_plain(item)) if item else self.run_holder(run_id)

    def beat_run(self, run_id: str, holder: str, now: dt.datetime) -> bool:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"instance_id": {"S": RUN_KEY + run_id}},
                UpdateExpression="SET heartbeat_at = :now, expires_at = :until",
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={
                    ":me": {"S": holder},
                    ":now": {"N": f"{now.timestamp():.3f}"},
                    ":until": {"N": str(int(now.timestamp()) + 86_400)},
                },
            )
            return True
        except ClientError as exc:
            if not _refused(exc):
                raise
            return False

    def release_claim(self, run_id: str, holder: str) -> None:
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key={"instance_id": {"S": RUN_KEY + run_id}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": holder}},
            )
        except ClientError as exc:
            if not _refused(exc):  # taken over meanwhile: not ours to free
                raise

    def run_holder(self, run_id: str) -> RunHolder | None:
        item = self.items([RUN_KEY + run_id]).get(RUN_KEY + run_id)
        return _claim(item) if item else None

    # patchwave leases list|release
    def scan(self) -> list[dict[str, Any]]:
        """Every item of the table (leases and run claims), as plain values."""
        found: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            found.extend(_plain(item) for item in page.get("Items", []))
        return found

    def list_holders(self) -> list[Holder]:
        """Every run holding leases, as ``SqliteLeases.list_holders`` gives them."""
        runs: dict[str, list[dict[str, Any]]] = {}
        for item in self.scan():
            if not item["instance_id"].startswith(RUN_KEY):
                runs.setdefault(item["run_id"], []).append(item)
        stamp = dt.datetime.fromtimestamp
        return [
            Holder(
                run,
                len(items),
                stamp(max(i["heartbeat_at"] for i in items), dt.UTC),
                stamp(max(i["expires_at"] for i in items), dt.UTC),
                max(i["holder"] for i in items),
            )
            for run, items in sorted(runs.items())
        ]

    def list_claims(self) -> list[RunHolder]:
        return [_claim(i) for i in self.scan() if i["instance_id"].startswith(RUN_KEY)]

    def release_run(self, run_id: str) -> int:
        """Free every lease a (dead) run holds, and its claim; returns how many leases."""
        count = 0
        for item in self.scan():
            if item["run_id"] != run_id:
                continue
            try:
                self.dynamodb.delete_item(
                    TableName=self.table,
                    Key={"instance_id": {"S": item["instance_id"]}},
                    ConditionExpression="run_id = :me",
                    ExpressionAttributeValues={":me": {"S": run_id}},
                )
            except ClientError as exc:
                if not _refused(exc):
                    raise
                continue
            count += not item["instance_id"].startswith(RUN_KEY)
        self._mine.pop(run_id, None)
        return count


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "instance_id": item["instance_id"]["S"],
        "run_id": item["run_id"]["S"],
        "expires_at": int(item["expires_at"]["N"]),
        "heartbeat_at": float(item.get("heartbeat_at", {"N": "0"})["N"]),
        "holder": item.get("holder", {"S": ""})["S"],
    }


def _claim(item: dict[str, Any]) -> RunHolder:
    return RunHolder(item["run_id"], item["holder"], dt.datetime.fromtimestamp(item["heartbeat_at"], dt.UTC))
