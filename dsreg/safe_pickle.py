"""Unpickle plain data only: builtin containers and numpy arrays, never an arbitrary callable.

A pickle is a program: `pickle.load` on a downloaded file runs whatever globals it names (`os.system`,
`builtins.open` …). Vendor files such as the CIFAR batches are pickles, so they are loaded with an
unpickler whose `find_class` admits only the few numpy functions that rebuild arrays, dtypes and
scalars, plus the latin-1 `_codecs.encode` and empty `bytes()` that Python 3 pickles use for bytes.
Everything else is refused before it can run, and so are bytes after the pickle's STOP: a pickle
padded with gigabytes of zeros, or with another file appended, is not the vendor's file.

Memory stays in proportion to the input: the opcodes are scanned first (`pickletools.genops`), so a
length or memo index that claims more than the file holds is refused before the C unpickler would
allocate it, and `ndarray` may only be rebuilt the way numpy pickles it (an empty array, then its
data), never called with a shape of its own.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from functools import cache
from typing import Any

import numpy as np

from dsreg.errors import DsregError

_FIX = "delete the file and download it again from the vendor (or a verified mirror)"


class _Frozen:
    """Base of the callables handed to the unpickler: no `__dict__`, so a BUILD opcode cannot alter them."""

    __slots__ = ()


class _Latin1Encode(_Frozen):
    """`_codecs.encode(text, "latin1")`, how protocol-2 pickles written by Python 3 store bytes; no other codec."""

    __slots__ = ()

    def __call__(self, text: str, encoding: str = "latin1") -> bytes:
        if encoding not in ("latin1", "latin-1"):
            raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed, only latin1")
        return text.encode("latin1")


class _EmptyBytes(_Frozen):
    """`bytes()`, how protocol-2 pickles written by Python 3 store b"" (no argument: `bytes(n)` could be huge)."""

    __slots__ = ()

    def __call__(self) -> bytes:
        return b""


class _FromBuffer(_Frozen):
    """numpy's `_frombuffer`, how protocol-5 pickles store arrays (a Python function, so wrapped)."""

    __slots__ = ()

    def __call__(self, *args: Any) -> np.ndarray:
        return _numpy_core()[1]._frombuffer(*args)


class _NdarrayType(_Frozen):
    """Stands for `numpy.ndarray` in a pickle: only `_reconstruct` may use it, nothing may call it."""

    __slots__ = ()


class _Reconstruct(_Frozen):
    """numpy's `_reconstruct(ndarray, shape, dtype)`, limited to the empty array numpy's pickles start from."""

    __slots__ = ()

    def __call__(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if not isinstance(subtype, _NdarrayType):
            raise pickle.UnpicklingError("_reconstruct of something other than numpy.ndarray")
        dims = shape if isinstance(shape, tuple) else (shape,)
        if not all(isinstance(d, int) for d in dims) or math.prod(dims) != 0:
            raise pickle.UnpicklingError(
                f"_reconstruct with shape {shape!r}: numpy's pickles start from an empty array"
            )
        return _numpy_core()[0]._reconstruct(np.ndarray, dims, dtype)


def _numpy_core() -> tuple[Any, Any]:
    """numpy's multiarray and numeric modules, from `numpy._core` (numpy 2) or `numpy.core` (numpy 1)."""
    if int(np.__version__.split(".")[0]) >= 2:
        from numpy._core import multiarray, numeric
    else:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    return multiarray, numeric


@cache
def _allowed() -> dict[tuple[str, str], Any]:
    """(module, name) → object, for every global a plain-data pickle of numpy arrays may name."""
    multiarray, _ = _numpy_core()
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): _NdarrayType(),
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _Latin1Encode(),
        ("__builtin__", "bytes"): _EmptyBytes(),
        ("builtins", "bytes"): _EmptyBytes(),
    }
    for package in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 spell the module differently
        allowed[(f"{package}.multiarray", "_reconstruct")] = _Reconstruct()
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = _FromBuffer()
    return allowed


class _PlainDataUnpickler(pickle.Unpickler):
    def __init__(self, stream: io.BytesIO, path: str | None):
        super().__init__(stream, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed().get((module, name))
        if obj is None:
            raise DsregError(
                f"refusing to unpickle {module}.{name}: the file is not plain data; it may be malicious or corrupt",
                path=self._path,
                fix=_FIX,
            )
        return obj


def _scan(data: bytes | bytearray) -> int:
    """Check every opcode's lengths against the data and every memo index against its size (ValueError
    otherwise); the offset just past STOP."""
    for op, arg, pos in pickletools.genops(data):
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and isinstance(arg, int) and arg >= len(data):
            raise ValueError(f"memo index {arg} at byte {pos} is larger than the whole pickle")
        if op.name == "STOP":
            return (pos or 0) + 1
    raise ValueError("no STOP opcode")


def safe_loads(data: bytes | bytearray, *, path: str | None = None) -> Any:
    """Load a pickle of containers and numpy arrays; `path` names the file in errors.

    Python 2 strings load as bytes (`encoding="bytes"`), so the vendor's CIFAR dicts have bytes keys
    (b"data", b"labels"); pickles written by Python 3 keep their str keys.
    """
    try:
        end = _scan(data)
        loaded = _PlainDataUnpickler(io.BytesIO(data), path).load()
    except DsregError:
        raise
    except Exception as err:  # any failure to rebuild untrusted bytes means they are not a valid pickle
        raise DsregError(
            f"not a valid pickle (truncated or corrupt): {type(err).__name__}: {err}", path=path, fix=_FIX
        ) from None
    if end != len(data):
        raise DsregError(
            f"{len(data) - end} bytes follow the end of the pickle (its STOP at byte {end}): the file is "
            "padded, corrupt or not the vendor's",
            path=path,
            fix=_FIX,
        )
    return loaded
