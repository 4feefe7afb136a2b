"""Installed plug-in packages for tests: a distribution's modules plus a `*.dist-info` declaring entry points.

`write_reader_package` (and `write_plugin_package` for any group, e.g. `dsreg.metrics`) writes what
`pip install` would leave in a site directory, without pip or a network; put the directory on `sys.path`
(and call `dsreg.readers.reload_readers()` / `dsreg.metrics.reload_metrics()` in a running process) and its
plug-ins are found exactly as a lab's installed package's would be.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dsreg.readers import ENTRY_POINT_GROUP


def write_reader_package(
    site: str | os.PathLike[str],
    distribution: str,
    readers: Mapping[str, str],
    modules: Mapping[str, str] | None = None,
    version: str = "0.1.0",
) -> Path:
    """Write `modules` (dotted name → source) and a dist-info declaring `readers` (name → "module:Class")."""
    return write_plugin_package(site, distribution, ENTRY_POINT_GROUP, readers, modules, version)


def write_plugin_package(
    site: str | os.PathLike[str],
    distribution: str,
    group: str,
    points: Mapping[str, str],
    modules: Mapping[str, str] | None = None,
    version: str = "0.1.0",
) -> Path:
    """Write `modules` (dotted name → source) and a dist-info declaring `points` (name → "module:Object") in `group`."""
    site = Path(site)
    for dotted, source in (modules or {}).items():
        path = site.joinpath(*dotted.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}", encoding="utf-8")
    return site
