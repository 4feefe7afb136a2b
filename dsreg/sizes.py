"""Byte sizes in both directions: "256MiB" → 268435456 for recipes and budgets, 268435456 → "256.0 MiB" for people."""

from __future__ import annotations

import re

from dsreg.errors import DsregError

_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}


def parse_size(text: str) -> int:
    """`"256MiB"` → 268435456; decimal (KB, MB…) and binary (KiB, MiB…) units."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*", text)
    if not match or match.group(2) not in _UNITS:
        raise DsregError(f"cannot read size {text!r}", fix=f"write a number and a unit ({', '.join(_UNITS)})")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def human_bytes(n: float) -> str:
    """268435456 → "256.0 MiB"."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
