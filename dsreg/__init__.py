"""dsreg: prepared, versioned, verified datasets on shared storage, and one call to load them.

The public surface is this namespace; everything in submodules is private unless re-exported here.
Frameworks (torch, tensorflow, keras, datasets) are imported only when an adapter needs them.
"""

from dsreg.errors import DsregError
from dsreg.features import (
    Audio,
    ClassLabel,
    EncodedImage,
    Feature,
    Features,
    Image,
    Scalar,
    Sequence,
    Tensor,
    Text,
)
from dsreg.version import __version__
from dsreg.writer import write_dataset

__all__ = [
    "Audio",
    "ClassLabel",
    "DsregError",
    "EncodedImage",
    "Feature",
    "Features",
    "Image",
    "Scalar",
    "Sequence",
    "Tensor",
    "Text",
    "__version__",
    "write_dataset",
]
