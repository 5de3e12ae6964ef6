"""Reading YAML into pydantic models, turning every failure into one ``ConfigError``.

The message names the file, the field (a dotted path with list indexes) and the offending
value, so that a person can fix it without reading a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from patchwave.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping with the same key twice (YAML keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def dotted(loc: tuple[int | str, ...]) -> str:
    """('waves', 0, 'name') -> 'waves[0].name'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = str(part)
            if not name or not name.isprintable() or name.strip() != name or "." in name:
                name = repr(name)  # a key with spaces, dots or control characters, shown exactly
            text += f".{name}" if text else name
    return text or "<top level>"


def config_error(source: str, error: ValidationError) -> ConfigError:
    """The first problem of a validation error, as one message; the count of the others."""
    problems = error.errors(include_url=False)
    first = problems[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    reason = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        reason = "unknown key"
    if len(problems) > 1:
        reason += f" (and {len(problems) - 1} more problem(s) in this file)"
    value = first.get("input")
    if isinstance(value, dict):
        value = None  # a rule across several fields: the reason names them
    elif isinstance(value, list):
        value = _short(value)
    return ConfigError(source, dotted(loc), value, reason)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error becomes a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "<file>", str(path), "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "<file>", str(path), f"cannot read: {exc}") from exc
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<yaml>"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), where, None, f"not valid YAML: {problem}") from exc


def validate(model: type[M], data: Any, source: str) -> M:
    """Validate already-parsed data (from YAML, the CLI or a flow parameter)."""
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(source, exc) from exc


def load_model(model: type[M], path: Path) -> M:
    return validate(model, read_yaml(path), str(path))
