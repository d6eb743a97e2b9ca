"""`load()`: the YAML file, then `AUTHSIDECAR_...` environment overrides, built into typed Settings and
validated; every bad field is collected and raised as one ConfigError."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .memory import memory_plan, with_cache_sizes
from .settings import Settings
from .validation import _validate

ENV_PREFIX = "AUTHSIDECAR_"


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML file (if any), apply environment overrides, validate; raise ConfigError."""
    env = os.environ if env is None else env
    problems: list[str] = []
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError([f"config file: cannot read {path} ({exc.strerror})"]) from None
        except yaml.YAMLError as exc:
            raise ConfigError([f"config file: not valid YAML ({exc})"]) from None
        except UnicodeDecodeError:
            raise ConfigError([f"config file: {path} is not UTF-8 text"]) from None
        if not isinstance(loaded, dict):
            raise ConfigError(["config file: top level must be a mapping"])
        raw = loaded
    _apply_env(raw, Settings, env, [], problems)
    problems.extend(_typed_as_written(raw))
    settings = _build(Settings, raw, "", problems)
    problems.extend(_validate(settings))
    if problems:
        raise ConfigError(problems)
    plan = memory_plan(settings)
    if plan.problems:
        raise ConfigError(list(plan.problems))
    return with_cache_sizes(settings, plan.sizes)


def _apply_env(raw: dict, cls: type, env: Mapping[str, str], path: list[str], problems: list[str]) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        names = [*path, f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            sub = raw.setdefault(f.name, {})
            if isinstance(sub, dict):
                _apply_env(sub, hint, env, names, problems)
            continue
        if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            continue  # lists of sections (issuers) come from the file only
        var = ENV_PREFIX + "_".join(names).upper()
        if var in env:
            raw[f.name] = env[var]
        elif var + "_FILE" in env:
            try:
                raw[f.name] = Path(env[var + "_FILE"]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"{'.'.join(names)}: cannot read {var}_FILE ({exc.strerror})")
            except UnicodeDecodeError:
                problems.append(f"{'.'.join(names)}: {var}_FILE is not UTF-8 text")


def _typed_as_written(raw: dict) -> list[str]:
    """Values whose YAML type shows they were not written as meant.

    An unquoted `socket_mode: 0660` is the YAML 1.1 octal int 432 (and 660 a decimal): as a string it
    would become mode 0432 or 01224. Only a quoted string of octal digits is taken.
    """
    mode = raw.get("socket_mode")
    if isinstance(mode, (int, float)) and not isinstance(mode, bool):
        return [f'socket_mode: write it quoted, like "0660" (unquoted, YAML reads it as the number {mode!r})']
    return []


def _build(cls: type, raw: Any, where: str, problems: list[str]) -> Any:
    if not isinstance(raw, dict):
        problems.append(f"{where or 'config'}: must be a mapping")
        return cls()
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for extra in sorted(set(raw) - known):
        problems.append(f"{where}{extra}: unknown field")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in raw:
            value = _convert(hints[f.name], raw[f.name], f"{where}{f.name}", problems)
            if value is not None:  # a bad value keeps its default so validation can go on
                values[f.name] = value
    try:
        return cls(**values)
    except TypeError:
        return cls()


def _convert(hint: Any, value: Any, where: str, problems: list[str]) -> Any:
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where + ".", problems)
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str) and not dataclasses.is_dataclass(item):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            problems.append(f"{where}: must be a list")
            return []
        return [_convert(item, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in {"1", "true", "yes", "on"}:
                return True
            if str(value).lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if hint is int and not isinstance(value, bool):
            return int(value)
        if hint is float and not isinstance(value, bool):
            return float(value)
        if hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    except (TypeError, ValueError):
        pass
    problems.append(f"{where}: must be {getattr(hint, '__name__', hint)}, got {value!r:.40}")
    return None
