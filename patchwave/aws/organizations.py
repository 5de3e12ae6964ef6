"""AWS Organizations: the active accounts under an organizational unit (or the root), nested
OUs included. Read-only: ``organizations:ListAccountsForParent``,
``organizations:ListOrganizationalUnitsForParent`` (from the management account or a delegated
administrator)."""

from __future__ import annotations

from typing import Any


def accounts_under(organizations: Any, parent_id: str) -> list[str]:
    """Ids of the ACTIVE accounts in ``parent_id`` and every OU below it, sorted."""
    found: set[str] = set()
    parents = [parent_id]
    while parents:
        parent = parents.pop()
        for page in organizations.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
            found.update(a["Id"] for a in page["Accounts"] if a.get("Status", "ACTIVE") == "ACTIVE")
        pages = organizations.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent)
        for page in pages:
            parents.extend(unit["Id"] for unit in page["OrganizationalUnits"])
    return sorted(found)
