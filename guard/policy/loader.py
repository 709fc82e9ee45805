"""Reading YAML into pydantic models with errors a person can act on.

Every problem is reported as ``file:line: key.path: message`` so ``guard policy check`` can list
them all at once, instead of stopping at the first like a plain ``yaml.safe_load`` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from guard.errors import ConfigError
from guard.policy.schema import Policy

M = TypeVar("M", bound=BaseModel)


def _node_at(node: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    """Walk the YAML node tree along a pydantic error location; stop at the deepest match.

    For a mapping entry the key's node is returned, so the reported line is the key's line.
    """
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if pair is None:
                return node
            if last:
                return pair[0]
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _format_errors(path: Path, root: yaml.Node | None, err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        node = _node_at(root, loc)
        line = node.start_mark.line + 1 if node is not None else 1
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        problems.append(f"{path}:{line}: {key}: {msg}")
    return problems


def parse_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror}"]) from e
    except UnicodeDecodeError as e:
        raise ConfigError([f"{path}: not UTF-8 text (byte {e.start})"]) from e
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"{path}:{line}: invalid YAML: {problem}"]) from e
    return data, root


def _validate(path: Path, model: type[M], data: Any, root: yaml.Node | None) -> M:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: (top level): expected a mapping of keys, got {type(data).__name__}"])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(path, root, e)) from e


def load_yaml_model(path: Path, model: type[M]) -> M:
    data, root = parse_yaml(path)
    return _validate(path, model, data, root)


def load_policy(path: Path) -> Policy:
    data, root = parse_yaml(path)
    if isinstance(data, dict) and "name" not in data:
        data = {**data, "name": path.stem}  # the file name names the policy by default
    return _validate(path, Policy, data, root)


def load_policies(directory: Path) -> dict[str, Policy]:
    """Load every ``*.yaml``/``*.yml`` in a folder; collect all problems before raising."""
    if not directory.is_dir():
        raise ConfigError([f"{directory}: not a folder of policies"])
    policies: dict[str, Policy] = {}
    sources: dict[str, Path] = {}
    problems: list[str] = []
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for f in files:
        try:
            p = load_policy(f)
        except ConfigError as e:
            problems.extend(e.problems)
            continue
        if p.name in policies:
            problems.append(f"{f}:1: name: policy {p.name!r} is also defined in {sources[p.name]}")
            continue
        policies[p.name] = p
        sources[p.name] = f
    if problems:
        raise ConfigError(problems)
    return policies
