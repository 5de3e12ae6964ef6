"""DescribeInstanceInformation's platform fields -> the operating system names of baselines."""

from __future__ import annotations

UNSUPPORTED = "UNSUPPORTED"


def operating_system(platform_type: str, platform_name: str, platform_version: str) -> str:
    name = platform_name.lower()
    if platform_type == "Windows" or "windows" in name:
        return "WINDOWS"
    if "amazon linux" in name:
        return "AMAZON_LINUX_2023" if platform_version.startswith("20") else "AMAZON_LINUX_2"
    if "red hat" in name or name.startswith("rhel"):
        return "REDHAT_ENTERPRISE_LINUX"
    if "suse" in name or name.startswith("sles"):
        return "SUSE"
    if "ubuntu" in name:
        return "UBUNTU"
    return UNSUPPORTED
