#!/usr/bin/env python3
"""Move authsidecar's modules to the house layout (issue 25) and rewrite every reference to them.

Run from the root of any checkout of main (before or after other branches are merged):

    python3 /work/restructure/restructure.py            # do it
    python3 /work/restructure/restructure.py --dry-run  # only say what it would do

Steps, each idempotent (a second run finds nothing left to do):
 1. In every sidecar/ module, relative imports that touch a moved module (or sit in a moved file)
    become absolute, resolved against the file's old location.
 2. `from P import a, b as c` where P.a is a moved module becomes `from <new parent> import <new leaf> as a`;
    `from <moved module> import X` gets the new module.
 3. Every dotted reference `sidecar.x.y` (imports, monkeypatch targets, `-m sidecar.protogen`, docs)
    and every path `sidecar/x/y.py`, `core/y.py`, `upstream/y.py`, … gets the new name.
 3b. Names in SYMBOL_MOVES (a class that left its module) are imported from their new module, and
     names in NAME_RENAMES are renamed everywhere once their module defines the new name.
 4. `git mv` old file -> new file; new packages get an __init__.py with a docstring.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mapping import MOVES, NAME_RENAMES, PACKAGES, SYMBOL_MOVES  # noqa: E402

ROOTS = ("sidecar", "tests", "bench", "soak", "fuzz", "examples", "docs", "deploy", "harness", "tools")
TOP_FILES = ("README.md", "Makefile", "pyproject.toml", "Dockerfile")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".sh", ".json", ".js", ".mjs", ".rst", ""}
NEW_PATHS = set(MOVES.values())


def file_of(dotted: str) -> Path:
    return Path(*dotted.split(".")).with_suffix(".py")


def children(old: str) -> set[str]:
    """Names right below `old` once it has become a package (so `sidecar.core.tokens.jws` is left alone)."""
    found = set()
    for new in NEW_PATHS | set(PACKAGES):
        if new.startswith(old + "."):
            found.add(new[len(old) + 1:].split(".")[0])
    return found


CHILDREN = {old: children(old) for old in MOVES}


def exists_module(dotted: str) -> bool:
    p = Path(*dotted.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def known(dotted: str) -> bool:
    return dotted in MOVES or dotted in NEW_PATHS or dotted in PACKAGES or exists_module(dotted)


# ---- step 1: relative imports -> absolute -------------------------------------------------------

FROM_REL = re.compile(r"^(?P<indent>[ \t]*)from[ \t]+(?P<dots>\.+)(?P<mod>[\w.]*)[ \t]+import[ \t]+", re.M)


def package_of(path: Path) -> str:
    return ".".join(path.with_suffix("").parts[:-1])


def resolve(package: str, dots: str, mod: str) -> str:
    base = package.rsplit(".", len(dots) - 1)[0] if len(dots) > 1 else package
    return ".".join(p for p in (base, mod) if p)


OLD_OF = {v: k for k, v in MOVES.items()}


def absolutize(path: Path, text: str, log: list[str]) -> str:
    dotted = ".".join(path.with_suffix("").parts)
    moved_file = dotted in MOVES
    packages = [package_of(path)]
    if dotted in OLD_OF:  # a moved file whose relative imports still speak of its old home (a merge)
        packages.append(".".join(OLD_OF[dotted].split(".")[:-1]))

    def fix(m: re.Match) -> str:
        rest = text[m.end():]
        names = _names_of(rest)
        for package in packages:
            target = resolve(package, m["dots"], m["mod"])
            if known(target) or any(known(f"{target}.{n}") for n in names):
                break
        touches = moved_file or dotted in OLD_OF or target in MOVES or any(f"{target}.{n}" in MOVES for n in names) \
            or target.startswith(tuple(m_ + "." for m_ in MOVES))
        if not touches:
            return m.group(0)
        log.append(f"  {path}: from {m['dots']}{m['mod']} -> from {target}")
        return f"{m['indent']}from {target} import "

    return FROM_REL.sub(fix, text)


def _names_of(rest: str) -> list[str]:
    if rest.startswith("("):
        body = rest[1:rest.index(")")]
    else:
        body = re.match(r"[^\n]*", rest).group(0)
    out = []
    for part in body.replace("\\\n", " ").split(","):
        part = part.split("#")[0].strip()
        if part:
            out.append(part.split()[0])
    return out


# ---- step 2: `from P import name` where P.name moved ------------------------------------------

FROM_ABS = re.compile(
    r"^(?P<indent>[ \t]*)from[ \t]+(?P<mod>(?:sidecar|harness|tools)(?:\.\w+)*)[ \t]+import[ \t]+"
    r"(?P<body>\([^)]*\)|[^\n]*)", re.M)


def split_names(body: str) -> list[tuple[str, str | None]] | None:
    inner = body.strip()
    if inner.startswith("("):
        inner = inner[1:-1]
    elif "#" in inner:
        inner = inner.split("#", 1)[0]  # the trailing comment is put back by the caller
    out = []
    for part in inner.split(","):
        part = re.sub(r"#[^\n]*", "", part).strip()
        if not part:
            continue
        bits = part.split()
        if len(bits) == 1:
            out.append((bits[0], None))
        elif len(bits) == 3 and bits[1] == "as":
            out.append((bits[0], bits[2]))
        else:
            return None
    return out


def rewrite_from(path: Path, text: str, log: list[str]) -> str:
    def fix(m: re.Match) -> str:
        mod = m["mod"]
        names = split_names(m["body"])
        if names is None:
            return m.group(0)
        groups: dict[str, list[str]] = {}
        changed = False
        for name, alias in names:
            full = f"{mod}.{name}"
            symbol_home = SYMBOL_MOVES.get((MOVES.get(mod, mod), name))
            if symbol_home is not None and file_of(symbol_home).exists():  # moved by a later commit  # a name that left its module
                groups.setdefault(symbol_home, []).append(name if alias is None else f"{name} as {alias}")
                changed = True
            elif full in MOVES:  # the name is a moved module
                new = MOVES[full]
                parent, leaf = new.rsplit(".", 1)
                shown = alias or name
                groups.setdefault(parent, []).append(leaf if leaf == shown else f"{leaf} as {shown}")
                changed = True
            elif mod in MOVES and name not in CHILDREN[mod]:  # an attribute of a moved module
                groups.setdefault(MOVES[mod], []).append(name if alias is None else f"{name} as {alias}")
                changed = True
            else:
                groups.setdefault(mod, []).append(name if alias is None else f"{name} as {alias}")
        if not changed:
            return m.group(0)
        lines = []
        for parent, items in groups.items():
            line = f"{m['indent']}from {parent} import {', '.join(items)}"
            if len(line) > 110:
                inner = ",\n".join(f"{m['indent']}    {i}" for i in items)
                line = f"{m['indent']}from {parent} import (\n{inner},\n{m['indent']})"
            lines.append(line)
        body = m["body"]
        if not body.lstrip().startswith("(") and "#" in body:
            lines[-1] += "  #" + body.split("#", 1)[1]
        new = "\n".join(lines)
        log.append(f"  {path}: {' '.join(m.group(0).split())[:90]}  ->  {' | '.join(' '.join(x.split()) for x in lines)[:140]}")
        return new

    return FROM_ABS.sub(fix, text)


# ---- step 3: dotted names and file paths -------------------------------------------------------

def dotted_pattern(old: str, lead: str) -> re.Pattern:
    kids = CHILDREN[old]
    guard = rf"(?!\.(?:{'|'.join(sorted(kids))})\b)" if kids else ""
    if kids and not file_of(old).exists():
        # Already a package here (a second run): a bare `sidecar.client` names the package now; only
        # `sidecar.client.<attribute of the old module>` is still an old reference.
        guard += r"(?=\.\w)"
    # `from <old> import` lines were settled in step 2; never touch one again.
    # A module is never called: `sidecar.metrics()` is a method of a variable named `sidecar`.
    return re.compile(rf"(?<![\w.]){re.escape(lead)}(?!\w){guard}(?![ \t]+import\b)(?!\()")


def path_rules() -> list[tuple[re.Pattern, str]]:
    rules = []
    for old, new in sorted(MOVES.items(), key=lambda kv: -len(kv[0])):
        old_p, new_p = file_of(old).as_posix(), file_of(new).as_posix()
        # full path: sidecar/core/keys.py, harness/processes.py
        rules.append((re.compile(rf"(?<![\w/.]){re.escape(old_p)}(?![\w/])"), new_p))
        # short path inside the package: core/keys.py (only with a folder; top-level names are ambiguous)
        old_s, new_s = old_p.removeprefix("sidecar/"), new_p.removeprefix("sidecar/")
        if "/" in old_s and new_p.startswith("sidecar/"):
            rules.append((re.compile(rf"(?<![\w/.]){re.escape(old_s)}(?![\w/])"), new_s))
    return rules


def dotted_rules() -> list[tuple[re.Pattern, str]]:
    rules = []
    for old, new in sorted(MOVES.items(), key=lambda kv: -len(kv[0])):
        rules.append((dotted_pattern(old, old), new))
        # short dotted form in prose and docstrings: core.policy, upstream.platform
        short_old = old.removeprefix("sidecar.")
        if new.startswith("sidecar.") and "." in short_old:
            rules.append((dotted_pattern(old, short_old), new.removeprefix("sidecar.")))
    return rules


PATHS, DOTTED = path_rules(), dotted_rules()


def rewrite_names(text: str) -> str:
    for pattern, new in PATHS:
        text = pattern.sub(new, text)
    # one pass per rule, but the rules' targets never match another rule's source (checked in main)
    for pattern, new in DOTTED:
        text = pattern.sub(new, text)
    for old, (module, new) in NAME_RENAMES.items():
        if re.search(rf"^class {new}\b", _source(module), re.M):
            text = re.sub(rf"\b{old}\b", new, text)
    for (module, name), home in SYMBOL_MOVES.items():
        if not file_of(home).exists():
            continue
        text = re.sub(rf"(?<![\w.]){re.escape(module)}\.{name}\b", f"{home}.{name}", text)
    return text


def _source(module: str) -> str:
    path = file_of(module)
    return path.read_text() if path.exists() else ""


# ---- driver ------------------------------------------------------------------------------------

def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", *ROOTS, *TOP_FILES], capture_output=True, check=True).stdout
    files = [Path(p) for p in out.decode().split("\0") if p]
    return [p for p in files if p.exists() and (p.suffix in TEXT_SUFFIXES or p.name in TOP_FILES)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    if not Path("sidecar/__init__.py").exists():
        sys.exit("run me from the repository root")
    for new in NEW_PATHS:  # no target may itself be rewritten by another rule
        assert new not in MOVES, new

    changed_files = 0
    log: list[str] = []
    for path in tracked_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, IsADirectoryError):
            continue
        new = text
        if path.suffix == ".py" and path.parts[0] == "sidecar":
            new = absolutize(path, new, log)
        if path.suffix == ".py":
            new = rewrite_from(path, new, log)
        after = rewrite_names(new)
        if after != new:
            n = sum(1 for a, b in zip(new.splitlines(), after.splitlines()) if a != b)
            log.append(f"  {path}: {n} line(s) with moved names rewritten")
        if after != text:
            changed_files += 1
            if not args.dry_run:
                path.write_text(after)
    print("rewrites:")
    print("\n".join(log) if log else "  none")

    moved = 0
    print("moves:")
    for old, new in MOVES.items():
        src, dst = file_of(old), file_of(new)
        if not src.exists():
            continue
        if dst.exists():
            print(f"  ! both {src} and {dst} exist: left alone, merge them by hand")
            continue
        print(f"  git mv {src} {dst}")
        moved += 1
        if not args.dry_run:
            dst.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "mv", str(src), str(dst)], check=True)
    print("packages:")
    for package, doc in PACKAGES.items():
        init = Path(*package.split(".")) / "__init__.py"
        if init.exists() or not any(v.startswith(package + ".") for v in NEW_PATHS):
            continue
        print(f"  create {init}")
        if not args.dry_run:
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(f'"""{doc}"""\n')
            subprocess.run(["git", "add", str(init)], check=True)
    print(f"done: {changed_files} file(s) rewritten, {moved} module(s) moved" + (" (dry run)" if args.dry_run else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
