"""The report to S3 and the summary to SNS, when config/aws.yaml asks for them."""

from __future__ import annotations

from pathlib import Path

from patchwave.aws import s3, sns
from patchwave.aws.session import AwsClients
from patchwave.config.aws import AwsSettings
from patchwave.reports.notify import summary_text
from patchwave.reports.report import Report, report_stem


class AwsNotifier:
    def __init__(self, clients: AwsClients, settings: AwsSettings) -> None:
        self.clients = clients
        self.settings = settings

    def publish(self, report: Report, files: dict[str, str]) -> dict[str, str]:
        sent: dict[str, str] = {}
        link = files.get("html") or files.get("json", "")
        bucket = self.settings.reports.s3_bucket
        if bucket:
            prefix = self.settings.reports.s3_key_prefix.strip("/")
            stem = report_stem(report)
            types = {"json": "application/json", "markdown": "text/markdown", "html": "text/html"}
            for kind, path in files.items():
                suffix = Path(path).suffix
                url = s3.put_text(
                    self.clients.s3,
                    bucket,
                    f"{prefix}/{stem}{suffix}",
                    Path(path).read_text(encoding="utf-8"),
                    types.get(kind, "text/plain"),
                )
                sent[f"s3-{kind}"] = url
            link = sent.get("s3-html", sent.get("s3-json", link))
        topic = self.settings.notifications.sns_topic_arn
        if topic:
            subject = f"patchwave {report.window}: {report.status}"
            sent["sns"] = sns.publish(self.clients.sns, topic, subject, summary_text(report, link))
        return sent
