"""SNS: the window summary. Mutating: Publish (sns:Publish)."""

from __future__ import annotations

from typing import Any


def publish(sns: Any, topic_arn: str, subject: str, message: str) -> str:
    response = sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message=message)
    return str(response["MessageId"])
