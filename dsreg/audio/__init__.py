"""Audio codecs the speech corpora need: NIST SPHERE with every LDC coding, embedded shorten included.

`read_sphere(path_or_bytes) -> (samples int16 (channels, frames), sample_rate)`; `parse_header` for the
header alone. numba (the ``audio`` extra) is imported only when a shorten-compressed file is decoded.
"""

from __future__ import annotations

from dsreg.audio.sphere import SphereHeader, parse_header, read_sphere

__all__ = ["SphereHeader", "parse_header", "read_sphere"]
