"""`load()`: the YAML file, then `AUTHSIDECAR_...` environment overrides, built into typed Settings and
validated; every bad field is collected and raised as one ConfigError.

The file is read and parsed by reading.py (a regular file only, capped, aliases bounded). Problems
name the field's path and the type found, never the value: a value may be a secret written in the
wrong place, or an alias bomb that only explodes when printed."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .memory import memory_plan, with_cache_sizes
from .reading import parse_config_yaml, read_config_bytes
from .settings import Settings
from .validation import _validate

ENV_PREFIX = "AUTHSIDECAR_"
MAX_PROBLEMS = 50  # listed one by one; beyond that a count (a 50,000-item list of bad values is one mistake)


def load(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    data: bytes | None = None,
    demo: bool = False,
) -> Settings:
    """Read the YAML file (if any; or `data`, its bytes already read), apply environment overrides,
    validate; raise ConfigError. Blocking and CPU-bound: a running server calls it off the event loop.
    `demo` (`sidecar run`): emulator.mode auto with no platform.base_url becomes on."""
    env = os.environ if env is None else env
    problems: list[str] = []
    raw: dict[str, Any] = {}
    if path is not None:
        raw = parse_config_yaml(read_config_bytes(path) if data is None else data, path)
    _apply_env(raw, Settings, env, [], problems)
    problems.extend(_typed_as_written(raw))
    settings = _build(Settings, raw, "", problems)
    if demo and settings.emulator.mode == "auto" and not settings.platform.base_url:
        settings = dataclasses.replace(settings, emulator=dataclasses.replace(settings.emulator, mode="on"))
    problems.extend(_validate(settings))
    if problems:
        if len(problems) > MAX_PROBLEMS:
            problems = [*problems[:MAX_PROBLEMS], f"… and {len(problems) - MAX_PROBLEMS} more problems"]
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
            try:  # the same reader as the config file: a FIFO or /dev/zero here must not hang a reload
                raw[f.name] = read_config_bytes(env[var + "_FILE"], f"{'.'.join(names)}: {var}_FILE").decode().strip()
            except ConfigError as exc:
                problems.extend(exc.problems)
            except UnicodeDecodeError:
                problems.append(f"{'.'.join(names)}: {var}_FILE is not UTF-8 text")


def _typed_as_written(raw: dict) -> list[str]:
    """Values whose YAML type shows they were not written as meant.

    An unquoted `socket_mode: 0660` is the YAML 1.1 octal int 432 (and 660 a decimal): as a string it
    would become mode 0432 or 01224. Only a quoted string of octal digits is taken.
    """
    mode = raw.get("socket_mode")
    if isinstance(mode, (int, float)) and not isinstance(mode, bool):
        # A small number says why (0660 became 432); a long one is not echoed (bounded messages).
        shown = f"the number {mode!r}" if isinstance(mode, int) and abs(mode) < 10**6 else "a number"
        return [f'socket_mode: write it quoted, like "0660" (unquoted, YAML reads it as {shown})']
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
        items = [_convert(item, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
        # One bad item keeps the whole list at its default (validation never sees a None item).
        return None if any(v is None for v in items) else items
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        # Only scalars are converted: str() of a list or mapping renders all of it (an alias bomb).
        scalar = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        if hint is bool:
            if isinstance(value, bool):
                return value
            if scalar and str(value).lower() in {"1", "true", "yes", "on"}:
                return True
            if scalar and str(value).lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if hint is int and scalar:
            return int(value)
        if hint is float and scalar:
            return float(value)
        if hint is str and scalar:
            return str(value)
    except (TypeError, ValueError):
        pass
    problems.append(f"{where}: must be {getattr(hint, '__name__', hint)}, got {_type_name(value)}")
    return None


def _type_name(value: Any) -> str:
    """What was written, by YAML type only (never the value: it may be a secret, or a bomb)."""
    return {
        str: "text",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)
