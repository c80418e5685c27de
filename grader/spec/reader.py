"""Low-level reading of an assignment's TOML: decoding, key lookup and the line of a key.

Every fault is a SpecError naming the file, the key (with its line when it can be found) and
what was expected. The section parsers (grader.spec.sections) build on TableReader.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from grader.errors import SpecError


def read(path: Path) -> tuple[dict, str]:
    """The parsed TOML of path and its text; invalid TOML names the line and column."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line, col = (int(match[1]), int(match[2])) if match else (None, None)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise SpecError(f"invalid TOML: {msg}", path=str(path), line=line, column=col) from None
    return data, text


class TableReader:
    """Typed look-ups in the parsed TOML, naming the file, key and line of any fault."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def fail(self, key: str, expected: str, got: Any = None, *, missing: bool = False) -> None:
        detail = "is missing" if missing else f"got {got!r}"
        raise SpecError(f"key '{key}': expected {expected}; {detail}",
                        path=str(self.path), line=self.line_of(key))

    def line_of(self, key: str) -> int | None:
        """The line of a key such as 'models[2].params': searched in the third [[models]]
        table (or the [training] table for 'training.lr'), else anywhere in the file."""
        match = re.fullmatch(r"([\w-]+)(?:\[(\d+)\])?(?:\.(.+))?", key)
        if not match:
            return None
        section, index, rest = match[1], match[2], match[3]
        leaf = rest.rsplit(".", 1)[-1] if rest else None
        headers = [i for i, text in enumerate(self.lines) if re.match(r"\s*\[", text)]
        mine = [i for i in headers if re.match(
            rf"\s*\[\[?\s*{re.escape(section)}\s*\]\]?\s*(#.*)?$", self.lines[i])]
        begin, end = 0, len(self.lines)
        if mine and (index is None or int(index) < len(mine)):
            begin = mine[int(index or 0)]
            end = next((i for i in headers if i > begin), len(self.lines))
            if leaf is None:
                return begin + 1
        if leaf is None:
            leaf = section
        for lo, hi in ((begin, end), (0, len(self.lines))):
            hit = next((i + 1 for i in range(lo, hi)
                        if re.match(rf"\s*{re.escape(leaf)}\s*=", self.lines[i])), None)
            if hit is not None:
                return hit
        return None

    def table(self, data: dict, key: str, allowed: set[str], where: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.fail(where, "a table", value)
        for unknown in sorted(set(value) - allowed):
            self.fail(f"{where}.{unknown}", f"one of the known keys ({', '.join(sorted(allowed))})",
                      unknown)
        return value

    def get(self, table: dict, key: str, where: str, kind: type | tuple, default: Any = ...,
            expected: str = "") -> Any:
        if key not in table:
            if default is ...:
                self.fail(f"{where}.{key}", expected or kind.__name__, missing=True)
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            self.fail(f"{where}.{key}", expected or " or ".join(k.__name__ for k in kinds), value)
        return value

    def names(self, table: dict, key: str, where: str) -> tuple[str, ...]:
        """A list of strings (column aliases, ...); () when absent."""
        value = self.get(table, key, where, list, [], "a list of strings")
        if not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(f"{where}.{key}", "a list of non-empty strings", value)
        return tuple(value)

    def positive(self, table: dict, key: str, where: str, default: Any) -> Any:
        value = self.get(table, key, where, type(default), default)
        if value <= 0:
            self.fail(f"{where}.{key}", "a positive number", value)
        return value
