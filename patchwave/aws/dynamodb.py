"""Instance leases in a DynamoDB table: shared by every worker on every machine.

One item per leased instance: ``instance_id`` (the key), ``run_id`` (the holder),
``expires_at`` (epoch seconds; also the table's TTL attribute, so DynamoDB sweeps leases of runs
that died) and ``heartbeat_at`` (the holder's last sign of life). TTL deletion is lazy (hours),
so expiry is decided by the conditions below, never by the item's presence:

- acquire: ``PutItem`` on condition that nobody holds it, or we do, or the lease expired
  (``dynamodb:PutItem``); a refusal returns the holder's item in the same call;
- heartbeat: ``UpdateItem`` pushing ``expires_at`` on condition we still hold it
  (``dynamodb:UpdateItem``); what we lost is reported, never silently retaken;
- release: ``DeleteItem`` on condition we hold it (``dynamodb:DeleteItem``);
- holders: ``BatchGetItem`` by 50 keys (``dynamodb:BatchGetItem``), consistent reads.

``patchwave setup`` creates the table when missing (``dynamodb:DescribeTable``, its tags need
``dynamodb:TagResource``, ``dynamodb:CreateTable``, ``dynamodb:UpdateTimeToLive``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

CHUNK = 50
HELD = "attribute_not_exists(instance_id) OR run_id = :me OR expires_at <= :now"


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

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def acquire(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> dict[str, str]:
        refused: dict[str, str] = {}
        for iid in instance_ids:
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        "instance_id": {"S": iid},
                        "run_id": {"S": run_id},
                        "expires_at": {"N": _epoch(until)},
                        "heartbeat_at": {"N": _epoch(now)},
                    },
                    ConditionExpression=HELD,
                    ExpressionAttributeValues={":me": {"S": run_id}, ":now": {"N": _epoch(now)}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if not _refused(exc):
                    raise
                refused[iid] = exc.response.get("Item", {}).get("run_id", {}).get("S", "another run")
        return refused

    def heartbeat(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> list[str]:
        """Extend our leases to ``until``; returns the instances we no longer hold (expired and
        taken by another run, or released): the caller must not start anything more on them."""
        lost: list[str] = []
        for iid in instance_ids:
            try:
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key={"instance_id": {"S": iid}},
                    UpdateExpression="SET expires_at = :until, heartbeat_at = :now",
                    ConditionExpression="run_id = :me",
                    ExpressionAttributeValues={
                        ":me": {"S": run_id},
                        ":until": {"N": _epoch(until)},
                        ":now": {"N": _epoch(now)},
                    },
                )
            except ClientError as exc:
                if not _refused(exc):
                    raise
                lost.append(iid)
        return lost

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
                    found[item["instance_id"]["S"]] = {
                        "run_id": item["run_id"]["S"],
                        "expires_at": int(item["expires_at"]["N"]),
                        "heartbeat_at": int(item.get("heartbeat_at", {"N": "0"})["N"]),
                    }
                keys = answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return found

    def holders(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
        moment = int(now.timestamp())
        return {
            iid: item["run_id"]
            for iid, item in self.items(instance_ids).items()
            if item["expires_at"] > moment
        }
