"""Typed dataclass configs from YAML presets and ``key.path=value`` overrides, and back to YAML.

Unknown keys, wrong types and malformed schedules raise ConfigError naming the full dotted key."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import yaml

from .schedule import Schedule, check_schedule


class ConfigError(ValueError):
    """A config or override that cannot be mapped onto the dataclasses."""


def _is_schedule(tp) -> bool:
    return tp == Schedule or (typing.get_origin(tp) is typing.Union and set(typing.get_args(tp)) == {float, list})


def _build_value(tp, value, where: str):
    origin = typing.get_origin(tp)
    if _is_schedule(tp):
        try:
            return check_schedule(value, where)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: expected one of {', '.join(map(repr, typing.get_args(tp)))}, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _build_value(arg, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_build_value(a, v, f"{where}.{i}") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list:
        (arg,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_build_value(arg, v, f"{where}.{i}") for i, v in enumerate(value)]
    raise ConfigError(f"{where}: unsupported config type {tp!r}")


def build(cls, data, where: str = ""):
    """Instantiate dataclass ``cls`` from a mapping; missing fields keep their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(f"unknown config key '{path}'")
        kwargs[key] = _build_value(hints[key], value, path)
    try:
        return cls(**kwargs)
    except ValueError as e:  # a dataclass's own check of its values (``__post_init__``), named by its key
        raise ConfigError(f"{where}.{e}" if where else str(e)) from None


def to_dict(config) -> dict:
    """Plain nested dict/list form of a config (tuples become lists), suitable for YAML."""

    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(config))


def _set_path(tree, path: list[str], value, full: str):
    node = tree
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"unknown config key '{full}': '{key}' is not an index below {len(node)}")
            key = int(key)
        elif not isinstance(node, dict) or key not in node:
            raise ConfigError(f"unknown config key '{full}'")
        if last:
            node[key] = value
        else:
            node = node[key]


def parse_override(text: str) -> tuple[str, object]:
    """Split ``key.path=value``; the value is read as YAML (numbers, lists, true/false, strings)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{text}' has no key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(cls, config, overrides: list[str]):
    """A new config of type ``cls`` with dotted ``key=value`` overrides applied and re-validated."""
    tree = to_dict(config)
    for text in overrides:
        key, value = parse_override(text)
        _set_path(tree, key.split("."), value, key)
    return build(cls, tree)


def load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of config keys")
    return data or {}


def dump_yaml(config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None)
