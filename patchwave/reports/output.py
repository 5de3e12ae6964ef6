"""Where a Run Command invocation's output is: S3 key prefix, CloudWatch stream, console link.

Run Command writes an invocation's output under
``s3://BUCKET/PREFIX/COMMAND_ID/INSTANCE_ID/PLUGIN/`` and, with CloudWatch output on, to the
log stream ``COMMAND_ID/INSTANCE_ID/PLUGIN/stdout`` (and ``stderr``) of the log group.
AWS-RunPatchBaseline's plugin is ``PatchLinux`` on Linux and macOS, ``PatchWindows`` on
Windows. patchwave sends with the prefix ``OUTPUT_PREFIX/RUN_ID`` (see ``patchwave.aws.fleet``).
"""

from __future__ import annotations

from urllib.parse import quote

from patchwave.config.aws import CommandOutput


def plugin_for(platform: str) -> str:
    return "PatchWindows" if platform.upper().startswith("WINDOWS") else "PatchLinux"


def output_location(
    output: CommandOutput, region: str, run_id: str, command_id: str, instance_id: str, platform: str
) -> dict[str, str]:
    plugin = plugin_for(platform)
    where: dict[str, str] = {}
    if output.s3_bucket:
        prefix = f"{output.s3_key_prefix.strip('/')}/{run_id}/{command_id}/{instance_id}/{plugin}/"
        where["s3"] = f"s3://{output.s3_bucket}/{prefix}"
    if output.cloudwatch_log_group:
        where["cloudwatch"] = f"{output.cloudwatch_log_group}:{command_id}/{instance_id}/{plugin}/stdout"
    if region:
        where["console"] = (
            f"https://{region}.console.aws.amazon.com/systems-manager/run-command/"
            f"{quote(command_id)}/{quote(instance_id)}?region={region}"
        )
    return where
