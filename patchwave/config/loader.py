"""Reading YAML into pydantic models, turning every failure into one ``ConfigError``.

The message names the file, the field (a dotted path with list indexes) and the offending
value, so that a person can fix it without reading a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from patchwave.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


MAX_BYTES = 2 * 1024 * 1024  # a config or fleet file larger than this is refused unread
MAX_DEPTH = 64  # nesting of mappings and lists (PyYAML composes recursively)
MAX_NODES = 2_000_000  # nodes once aliases are expanded (an alias bomb expands to billions)


class InputLimit(Exception):
    """A YAML document beyond the limits: refused before it can cost memory or recursion."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping with the same key twice (YAML keeps the last),
    nesting deeper than ``MAX_DEPTH`` and documents whose aliases expand past ``MAX_NODES``."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise InputLimit(f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has with every alias expanded (each node's size once)."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack = [root]
    seen: set[int] = set()
    while stack:  # children before parents, without recursion
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(_children(node))
    for node in reversed(order):
        sizes[id(node)] = min(MAX_NODES + 1, 1 + sum(sizes.get(id(c), 1) for c in _children(node)))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


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
    elif isinstance(value, list | str | bytes):
        value = _short(value)
    return ConfigError(source, dotted(loc), value, reason)


def _short(value: object) -> object:
    if isinstance(value, str):
        return value if len(value) <= 80 else value[:77] + "..."
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """A regular UTF-8 file of at most ``limit`` bytes, else one ConfigError that never shows
    the file's contents (a FIFO or /dev/zero is refused without being read)."""
    source = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(source, "<file>", None, "file not found") from None
    except OSError as exc:
        raise ConfigError(source, "<file>", None, f"cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(source, "<file>", None, "not a regular file")
    if info.st_size > limit:
        raise ConfigError(source, "<file>", None, f"{info.st_size} bytes; the limit is {limit}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ConfigError(source, "<file>", None, "not a regular file")
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError(source, "<file>", None, f"cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise ConfigError(source, "<file>", None, f"larger than the limit of {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "<file>", None, f"not UTF-8 text (byte {exc.start})") from None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file within the limits; every failure becomes one ConfigError."""
    text = read_text(path)
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_size(node) > MAX_NODES:
                raise InputLimit(f"more than {MAX_NODES} values once its aliases are expanded")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except InputLimit as exc:
        raise ConfigError(str(path), "<yaml>", None, f"refused: {exc}") from None
    except RecursionError:
        reason = f"refused: nested deeper than {MAX_DEPTH} levels"
        raise ConfigError(str(path), "<yaml>", None, reason) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<yaml>"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), where, None, f"not valid YAML: {problem}") from exc


def validate(model: type[M], data: Any, source: str) -> M:
    """Validate already-parsed data (from YAML, the CLI or a flow parameter)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):  # never echo what it is: it may be someone's file
        raise ConfigError(source, "<top level>", None, f"expected a mapping, found {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(source, exc) from exc


def load_model(model: type[M], path: Path) -> M:
    return validate(model, read_yaml(path), str(path))
