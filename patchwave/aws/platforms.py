"""DescribeInstanceInformation's platform fields -> the operating system names of baselines.

Amazon Linux reports PlatformVersion "2023" (AL2023), "2" (AL2) or "2018.03" (Amazon Linux 1,
whose baselines are AMAZON_LINUX).
"""

from __future__ import annotations

UNSUPPORTED = "UNSUPPORTED"


def _amazon_linux(version: str) -> str:
    if version.startswith("2023") or version.startswith("2022"):
        return "AMAZON_LINUX_2023"
    if version == "2" or version.startswith("2."):
        return "AMAZON_LINUX_2"
    return "AMAZON_LINUX"  # 2018.03 and earlier: Amazon Linux 1


def operating_system(platform_type: str, platform_name: str, platform_version: str) -> str:
    name = platform_name.lower()
    if platform_type == "Windows" or "windows" in name:
        return "WINDOWS"
    if "amazon linux" in name:
        return _amazon_linux(platform_version)
    if "red hat" in name or name.startswith("rhel"):
        return "REDHAT_ENTERPRISE_LINUX"
    if "suse" in name or name.startswith("sles"):
        return "SUSE"
    if "ubuntu" in name:
        return "UBUNTU"
    if "debian" in name:
        return "DEBIAN"
    return UNSUPPORTED
