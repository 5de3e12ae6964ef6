"""Help text an operator reads: flags show no ``<bool>``.

Typer 0.29 labels every option with its type, flags included (``--verbose <bool>``, even
``--help <bool>``): a flag takes no value, so the label misleads. Flags get no type label;
every other option keeps Typer's own.
"""

from __future__ import annotations

from typing import Any


def flags_without_type_label() -> None:
    from typer.core import TyperOption

    original = TyperOption.display_type_rich
    if getattr(original, "_patchwave", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) or getattr(self, "is_bool_flag", False):
            return None
        return original(self, ctx)

    display_type_rich._patchwave = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
