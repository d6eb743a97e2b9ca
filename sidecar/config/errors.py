"""ConfigError: what `load()` raises, naming every bad field at once."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists every bad field as 'path: problem'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        missing = [p.split(":", 1)[0] for p in problems if p.endswith(": is required")]
        other = [p for p in problems if not p.endswith(": is required")]
        lines = []
        if missing:
            lines.append("Missing required fields: " + ", ".join(missing))
        lines.extend(other)
        super().__init__("; ".join(lines))
