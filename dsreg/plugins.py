"""Classes found by name through one entry-point group (readers, metrics), imported on first use and cached.

A lab's own package adds one by declaring an entry point; nothing is imported until a name is asked for, so
`import dsreg` stays light. Every failure is a `DsregError` naming the distribution and the entry point.
"""

from __future__ import annotations

import difflib
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar, cast

from dsreg.errors import DsregError

T = TypeVar("T")


def distribution(point: EntryPoint) -> str:
    """The name of the installed distribution that declares `point`."""
    return point.dist.name if point.dist is not None else "an unknown distribution"


class PluginGroup(Generic[T]):
    """The subclasses of `base` declared in the entry-point `group`; `kind` names one in messages ("reader")."""

    def __init__(self, group: str, kind: str, base: type):
        self.group = group
        self.kind = kind
        self.base = base
        self._declared: dict[str, tuple[EntryPoint, ...]] | None = None
        self._loaded: dict[str, type[T]] = {}

    def declared(self) -> dict[str, tuple[EntryPoint, ...]]:
        """Name → the entry points declaring it, sorted by name (more than one is an error when the name is used)."""
        if self._declared is None:
            found: dict[str, list[EntryPoint]] = {}
            for point in entry_points(group=self.group):
                found.setdefault(point.name, []).append(point)
            self._declared = {name: tuple(points) for name, points in sorted(found.items())}
        return self._declared

    def reload(self) -> None:
        """Forget what was found so far: for a process that installed a plug-in package after using the group."""
        self._declared = None
        self._loaded.clear()

    def get(self, name: str) -> type[T]:
        """The class declared as `name`, imported on first use."""
        if name in self._loaded:
            return self._loaded[name]
        declared = self.declared()
        points = declared.get(name)
        if not points:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            fix = (
                f"use one of: {', '.join(declared) or 'none are installed'}{hint}; a {self.kind} from another "
                f"package needs that package installed (it declares entry points in the {self.group!r} group)"
            )
            if not any(distribution(p) == "dsreg" for found in declared.values() for p in found):
                fix += (
                    f"; dsreg's own {self.kind}s are missing too, so its installed metadata is stale: reinstall dsreg"
                )
            raise DsregError(f"unknown {self.kind} {name!r}", fix=fix)
        if len(points) > 1:
            who = "; ".join(sorted(f"{distribution(p)} ({p.value})" for p in points))
            raise DsregError(
                f"{self.kind} {name!r} is declared by several installed packages: {who}", fix="uninstall all but one"
            )
        self._loaded[name] = self._load(name, points[0])
        return self._loaded[name]

    def entries(self) -> list[tuple[str, EntryPoint, type[T] | None, str | None]]:
        """Every declared (name, entry point, class or None, error or None), sorted by name, loaded if possible."""
        out: list[tuple[str, EntryPoint, type[T] | None, str | None]] = []
        for name, points in self.declared().items():
            try:
                cls: type[T] | None = self.get(name)
                error = None
            except DsregError as err:
                cls, error = None, err.problem
            out.extend((name, point, cls, error) for point in points)
        return out

    def _load(self, name: str, point: EntryPoint) -> type[T]:
        where = f"entry point {name} = {point.value} (group {self.group}) of {distribution(point)}"
        fix = f"reinstall or fix {distribution(point)}, or uninstall it"
        try:
            cls = point.load()
        except Exception as err:
            raise DsregError(
                f"cannot import {self.kind} {name!r}: {where} fails: {type(err).__name__}: {err}", fix=fix
            ) from err
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            base = f"{self.base.__module__}.{self.base.__qualname__}"
            raise DsregError(f"{self.kind} {name!r}: {where} is {cls!r}, not a subclass of {base}", fix=fix)
        return cast(type[T], cls)
