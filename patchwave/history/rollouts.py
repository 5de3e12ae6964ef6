"""A rollout's durable state, through the history store (same database, same URL settings).

The flow writes the state at every step (ring started, baking, gate passed or failed); the CLI
reads it (``rollout status``, ``plan``) and changes it (promote, abort) from any process or
machine that reaches the database. Earlier patchwave kept it in ``<reports>/.rollouts/NAME.json``:
such a file is read once, when the store has no state for the rollout, stored, and renamed
``NAME.json.migrated`` so that it is never read again.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from patchwave.config.history import load_history_settings
from patchwave.history.port import HistoryStore
from patchwave.window.rollout import RolloutState, load_state, state_path


def open_rollout_store(config_dir: Path | str) -> HistoryStore:
    """The history store ``<config_dir>/history.yaml`` names (else SQLite under the home)."""
    from patchwave.history.opening import open_store

    return open_store(load_history_settings(config_dir))


def migrate_legacy(store: HistoryStore, name: str, report_dir: Path | str | None) -> RolloutState | None:
    """A state file of an earlier patchwave, moved into the store (None: there is none)."""
    if report_dir is None or store.rollout(name) is not None:
        return None
    legacy = load_state(report_dir, name)
    if legacy is None:
        return None
    store.save_rollout(legacy)
    path = state_path(report_dir, name)
    path.rename(path.with_name(f"{path.name}.migrated"))
    return legacy


def load_rollout(store: HistoryStore, name: str, report_dir: Path | str | None = None) -> RolloutState | None:
    """The rollout's state from the store (after migrating a legacy file, if one is there)."""
    return migrate_legacy(store, name, report_dir) or store.rollout(name)


def save_rollout(store: HistoryStore, state: RolloutState, now: dt.datetime) -> None:
    state.updated_at = now.isoformat()
    store.save_rollout(state)
