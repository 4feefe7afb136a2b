"""Framework adapters, one module each, imported only when asked for: ``adapt("torch", loader)``.

Each adapter module exposes ``adapt(loader, **kwargs)`` and turns a `dsreg.loading.Loader` into what its
framework expects. Names have aliases; asking for a framework that is not installed says which extra to
install instead of failing on an import deep inside.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import TYPE_CHECKING, Any

from dsreg.errors import DsregError

if TYPE_CHECKING:
    from dsreg.loading.loader import Loader

ALIASES = {
    "numpy": "numpy",
    "np": "numpy",
    "torch": "torch",
    "pt": "torch",
    "pytorch": "torch",
    "tf": "tf",
    "tensorflow": "tf",
    "keras": "keras",
    "hf": "hf",
    "datasets": "hf",
    "huggingface": "hf",
}
# adapter module → (the package it needs, the dsreg extra that installs it)
REQUIRES = {
    "torch": ("torch", "torch"),
    "tf": ("tensorflow", "tf"),
    "keras": ("keras", "keras"),
    "hf": ("datasets", "hf"),
}


def resolve(framework: str) -> str:
    """The adapter module name for a framework name or alias; fails early if the framework is missing."""
    name = ALIASES.get(str(framework).lower())
    if name is None:
        raise DsregError(f"unknown framework {framework!r}", fix=f"use one of: {', '.join(ALIASES)}")
    package, extra = REQUIRES.get(name, (None, None))
    if package is not None and importlib.util.find_spec(package) is None:
        raise DsregError(
            f"framework {framework!r} needs the {package!r} package, which is not installed",
            fix=f"pip install 'dsreg[{extra}]'",
        )
    return name


def adapter_options(framework: str) -> set[str]:
    """The keywords a framework's adapter takes: its module's `options()`, else the keywords of its `adapt`."""
    module = importlib.import_module(f"dsreg.frameworks.{resolve(framework)}")
    if hasattr(module, "options"):
        names: set[str] = module.options()
        return names
    params = inspect.signature(module.adapt).parameters.values()
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - {"loader"}


def adapt(framework: str, loader: Loader, **kwargs: Any) -> Any:
    """What `framework` iterates (a torch DataLoader, a tf.data.Dataset, …) built over `loader`."""
    module = importlib.import_module(f"dsreg.frameworks.{resolve(framework)}")
    return module.adapt(loader, **kwargs)
