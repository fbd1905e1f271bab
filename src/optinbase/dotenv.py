"""`.env` in the working directory, read once at start-up: `KEY=value` lines
(`#` comments, optional `export `, values optionally in single or double
quotes). A variable already set in the environment wins, so a deployment's
real environment is never overridden by a file left behind."""

from __future__ import annotations

import os
import re
from pathlib import Path

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_loaded = False


def parse(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def load(path: str = ".env") -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    file = Path(path)
    if file.is_file():
        for name, value in parse(file.read_text()).items():
            os.environ.setdefault(name, value)
