"""The AWS side of the Fleet port: Systems Manager, EC2, S3, SNS and ELB through boto3."""

from __future__ import annotations

from patchwave.aws.fleet import AwsFleet
from patchwave.aws.notify import AwsNotifier
from patchwave.aws.session import AwsClients, check_credentials, make_session
from patchwave.config.aws import AwsSettings

__all__ = ["AwsClients", "AwsFleet", "AwsNotifier", "open_aws"]


def open_aws(settings: AwsSettings) -> tuple[AwsFleet, AwsNotifier, str]:
    """A fleet on the account the settings reach; fails with one clear message if they do not."""
    clients = AwsClients(make_session(settings))
    who = check_credentials(clients)
    return AwsFleet(clients, settings), AwsNotifier(clients, settings), who
