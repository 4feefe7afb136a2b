"""dsreg: prepared, versioned, verified datasets on shared storage, and one call to load them.

The public surface is this namespace; everything in submodules is private unless re-exported here.
Names are resolved lazily (PEP 562), so `import dsreg` costs milliseconds and imports no framework,
not even pyarrow, until something is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dsreg.errors import DsregError
from dsreg.version import __version__

_EXPORTS = {
    # operations
    "open": "dsreg.loading.dataset:open_dataset",
    "load": "dsreg.loading.api",
    "Dataset": "dsreg.loading.dataset",
    "Loader": "dsreg.loading.loader",
    "prepare": "dsreg.preparation",
    "export": "dsreg.api",
    "info": "dsreg.api",
    "list_datasets": "dsreg.api",
    "verify": "dsreg.api",
    "write_dataset": "dsreg.writer",
    "evaluate": "dsreg.evaluation.run",
    "scores": "dsreg.evaluation.table",
    # feature types
    "Audio": "dsreg.features",
    "ClassLabel": "dsreg.features",
    "EncodedImage": "dsreg.features",
    "Feature": "dsreg.features",
    "Features": "dsreg.features",
    "Image": "dsreg.features",
    "Scalar": "dsreg.features",
    "Sequence": "dsreg.features",
    "Struct": "dsreg.features",
    "Tensor": "dsreg.features",
    "Text": "dsreg.features",
}

# subpackages reachable as attributes (``dsreg.audio.read_sphere``), imported on first use
_SUBMODULES = {"audio"}

__all__ = [
    "Audio",
    "ClassLabel",
    "Dataset",
    "DsregError",
    "EncodedImage",
    "Feature",
    "Features",
    "Image",
    "Loader",
    "Scalar",
    "Sequence",
    "Struct",
    "Tensor",
    "Text",
    "__version__",
    "audio",
    "evaluate",
    "export",
    "info",
    "list_datasets",
    "load",
    "open",
    "prepare",
    "scores",
    "verify",
    "write_dataset",
]

if TYPE_CHECKING:
    from dsreg.api import export, info, list_datasets, verify
    from dsreg.evaluation.run import evaluate
    from dsreg.evaluation.table import scores
    from dsreg.features import (
        Audio,
        ClassLabel,
        EncodedImage,
        Feature,
        Features,
        Image,
        Scalar,
        Sequence,
        Struct,
        Tensor,
        Text,
    )
    from dsreg.loading.api import load
    from dsreg.loading.dataset import Dataset
    from dsreg.loading.dataset import open_dataset as open
    from dsreg.loading.loader import Loader
    from dsreg.preparation import prepare
    from dsreg.writer import write_dataset


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"dsreg.{name}")
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'dsreg' has no attribute {name!r}")
    module, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
