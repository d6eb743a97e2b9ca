"""Reading the config file as if an attacker wrote it: at start and on every live reload.

- Only a regular file is read. The path is opened with O_NONBLOCK, so a FIFO swapped in for it
  cannot block the open, and fstat refuses FIFOs, devices (/dev/zero never ends), sockets and
  directories before any byte is read.
- At most MAX_CONFIG_BYTES are read; a bigger file is refused, not cut.
- YAML anchors and aliases are allowed (`<<: *defaults` is a common way to share issuer settings),
  but before anything is built the parser's events are counted with every alias expanded: an alias
  bomb ("billion laughs") or a 200,000-item list is refused after MAX_NODES, before anything walks
  the expanded structure. Nesting deeper than MAX_DEPTH and recursive aliases are refused too. Then
  a SafeLoader (libyaml's when installed) builds the document.
- Error messages name the problem and its line, never the file's text (a line may hold a secret).

These functions block (file I/O, a pure-Python parse): the reloader runs them off the event loop.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError

from .errors import ConfigError

MAX_CONFIG_BYTES = 1024 * 1024  # a real config is a few kB; bounds the read and the parse
MAX_NODES = 50_000  # YAML nodes with aliases expanded (a real config has hundreds)
MAX_DEPTH = 64  # nesting (the settings tree is 4 deep; ext_authz rules a few more)


def read_config_bytes(path: str | Path, label: str = "config file") -> bytes:
    """The file's bytes; ConfigError (its problem starting with `label`) if it is not a regular file,
    cannot be read or is too big."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read {path} ({exc.strerror})"]) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError([f"{label}: {path} is not a regular file ({_kind(mode)})"])
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, min(65536, MAX_CONFIG_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read {path} ({exc.strerror})"]) from None
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError([f"{label}: {path} is larger than {MAX_CONFIG_BYTES} bytes"])
    return b"".join(chunks)


def parse_config_yaml(data: bytes, path: str | Path) -> dict[str, Any]:
    """The top-level mapping (empty for an empty file); ConfigError naming the problem, never the text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"config file: {path} is not UTF-8 text"]) from None
    try:
        _check_expansion(text)
        loaded = yaml.load(text, Loader=_Loader) or {}  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"config file: not valid YAML ({exc.problem or exc.context}{where})"]) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # e.g. an int over Python's digit limit
        raise ConfigError([f"config file: not valid YAML ({type(exc).__name__})"]) from None
    if not isinstance(loaded, dict):
        raise ConfigError(["config file: top level must be a mapping"])
    return loaded


# libyaml's parser when installed (the wheels ship it): fast, so a refused file costs little time.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_expansion(text: str) -> None:
    """Walk the parser's events (no document is built) counting nodes with every alias expanded.

    Construction shares an aliased value rather than copying it, so a bomb is cheap to load — and
    then explodes in whatever walks or prints it. Counting here refuses it while the work done is
    still bounded by the file's size. Raises a MarkedYAMLError (as the loader would).
    """
    count = 0
    open_nodes: list[tuple[int, str | None]] = []  # collections being parsed: (count at start, anchor)
    sizes: dict[str, int] = {}  # anchor → its node's expanded size, once complete
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor)  # type: ignore[arg-type]  # an alias always names an anchor
            if size is None:
                recursive = any(anchor == event.anchor for _, anchor in open_nodes)
                problem = "found a recursive alias" if recursive else "found an undefined alias"
                raise ComposerError(None, None, problem, event.start_mark)  # type: ignore[arg-type]  # libyaml's Mark, typed apart
            count += size
        elif isinstance(event, yaml.ScalarEvent):
            count += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            count += 1
            open_nodes.append((count - 1, event.anchor))
            if len(open_nodes) > MAX_DEPTH:
                raise ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)  # type: ignore[arg-type]  # libyaml's Mark, typed apart
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            start, anchor = open_nodes.pop()
            if anchor:
                sizes[anchor] = count - start
        if count > MAX_NODES:
            raise ComposerError(
                None,
                None,
                f"more than {MAX_NODES} nodes, each alias counted as the node it repeats",
                event.start_mark,  # type: ignore[arg-type]  # libyaml's Mark, typed apart
            )


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"
