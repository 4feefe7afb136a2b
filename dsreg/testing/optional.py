"""Skipping tests whose optional package is missing or broken (torchaudio built for another torch raises
OSError on import, which `pytest.importorskip` does not catch)."""

from __future__ import annotations

import importlib

import pytest


def importable(module: str) -> bool:
    """Whether `module` imports in this environment."""
    try:
        importlib.import_module(module)
    except (ImportError, OSError):
        return False
    return True


def needs(*modules: str) -> pytest.MarkDecorator:
    """A skip mark naming the modules that do not import, if any."""
    missing = [m for m in modules if not importable(m)]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} does not import (missing or broken)")
