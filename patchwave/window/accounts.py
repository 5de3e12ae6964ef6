"""Waves of accounts: a canary account first (all its regions), then the others in waves of
``wave_size`` accounts (0: all at once), each account in every configured region. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AccountTarget:
    account: str
    region: str

    @property
    def label(self) -> str:
        return f"{self.account}/{self.region}"


@dataclass(frozen=True)
class AccountWave:
    name: str
    targets: tuple[AccountTarget, ...]


def plan_account_waves(
    accounts: list[str], regions: list[str], canary: str | None, wave_size: int
) -> list[AccountWave]:
    """``accounts`` in order (the canary, if any, among them); one target per account-region."""
    rest = [a for a in accounts if a != canary]
    groups: list[tuple[str, list[str]]] = []
    if canary and canary in accounts:
        groups.append(("canary", [canary]))
    size = wave_size or len(rest) or 1
    for number, start in enumerate(range(0, len(rest), size), start=1):
        groups.append((f"accounts-{number}", rest[start : start + size]))
    return [
        AccountWave(name, tuple(AccountTarget(a, r) for a in members for r in regions))
        for name, members in groups
    ]
