"""The host's pip configuration as one file, for the image build to mount as a secret.

pip reads the global files (/etc/xdg/pip/pip.conf, /etc/pip.conf), then the user's
(~/.pip/pip.conf, ~/.config/pip/pip.conf), then PIP_CONFIG_FILE, then PIP_* variables; the later
wins. A build step sees one file, so this merges them in that order. `cert` becomes the CA bundle's
secret path. Options that name a host path (find-links, a file:// index, a constraint file) keep it,
and with `--mounts FILE` those paths are listed in FILE for a caller to mount; with `--drop-local`
they are left out (build.sh: the build cannot see them without leaving mount points in the image).

Usage: python3 pip_config.py OUT [--ca-secret PATH] [--mounts FILE | --drop-local]
Standard library only: it runs on the host before any virtualenv exists.
"""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

INDEX_OPTIONS = {"index-url", "extra-index-url"}


def config_files() -> list[Path]:
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    home = Path.home()
    xdg_home = Path(os.environ.get("XDG_CONFIG_HOME", home / ".config"))
    files = [Path(d) / "pip" / "pip.conf" for d in reversed(xdg_dirs) if d]
    files += [Path("/etc/pip.conf"), home / ".pip" / "pip.conf", xdg_home / "pip" / "pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    return [f for f in files if f.is_file()]


def local_path(token: str, option: str) -> Path | None:
    """The host path a value names, if it exists; for a file:// index its parent, where the
    `simple/` pages' relative links (../../files/…) lead."""
    if token.startswith("file:"):
        path = Path(unquote(urlparse(token).path))
        if option in INDEX_OPTIONS:
            path = path.parent
    elif token.startswith(("/", "~")):
        path = Path(token).expanduser()
    else:
        return None
    return path if path.exists() else None


def main(argv: list[str]) -> int:
    out, args = Path(argv[0]), argv[1:]
    ca_secret = args[args.index("--ca-secret") + 1] if "--ca-secret" in args else ""
    mounts_file = Path(args[args.index("--mounts") + 1]) if "--mounts" in args else None
    drop_local = "--drop-local" in args

    merged = configparser.ConfigParser(interpolation=None)
    for file in config_files():
        one = configparser.ConfigParser(interpolation=None)
        one.read(file)
        for section in one.sections():
            if not merged.has_section(section):
                merged.add_section(section)
            for key, value in one.items(section):
                merged.set(section, key, value)
    if not merged.has_section("global"):
        merged.add_section("global")
    for name, value in os.environ.items():
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE":
            merged.set("global", name[4:].lower().replace("_", "-"), value)

    mounts: set[Path] = set()
    for section in merged.sections():
        for option in ("cert", "client-cert"):
            merged.remove_option(section, option)
        for option, value in list(merged.items(section)):
            kept = []
            for token in value.split():
                path = local_path(token, option)
                if path is not None:
                    if drop_local:
                        print(f"pip_config: leaving out {option} {token} (not mountable)", file=sys.stderr)
                        continue
                    mounts.add(path)
                kept.append(token)
            if kept:
                merged.set(section, option, "\n".join(kept) if len(kept) > 1 else kept[0])
            else:
                merged.remove_option(section, option)
    if ca_secret:
        merged.set("global", "cert", ca_secret)

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        merged.write(f)
    if mounts_file is not None:
        mounts_file.write_text("".join(f"{p}\n" for p in sorted(mounts)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
