"""Test support: raw-layout generators, hostile inputs, a local HTTP server, and the reader contract.

`ReaderContract` and `Damaged` (from `dsreg.testing.contract`) resolve on first use, because they need
pytest, which only tests have; the generators do not.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Damaged", "ReaderContract"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'dsreg.testing' has no attribute {name!r}")
    return getattr(importlib.import_module("dsreg.testing.contract"), name)
