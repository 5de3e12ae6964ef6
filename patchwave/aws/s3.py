"""S3: InstallOverrideList files and window reports. Mutating: PutObject (s3:PutObject)."""

from __future__ import annotations

from typing import Any

import yaml


def put_text(s3: Any, bucket: str, key: str, text: str, content_type: str) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType=content_type)
    return f"s3://{bucket}/{key}"


def install_override_yaml(patch_ids: list[str]) -> str:
    """The InstallOverrideList format AWS-RunPatchBaseline reads."""
    return yaml.safe_dump({"patches": [{"id": patch_id} for patch_id in patch_ids]}, sort_keys=False)
