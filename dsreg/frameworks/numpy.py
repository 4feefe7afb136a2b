"""The numpy adapter: the loader itself, an iterator of dicts of numpy arrays.

Columns come in each feature kind's numpy form as `Dataset.take` returns it (see `dsreg.features`): nothing to
convert, so no kind table here.
"""

from __future__ import annotations

from dsreg.errors import DsregError
from dsreg.loading.loader import Loader, Transform


def adapt(
    loader: Loader, *, transform: Transform | None = None, num_workers: int = 0, device: str | None = None
) -> Loader:
    """Return `loader`, with `transform` applied to each numpy batch and `num_workers` prefetching threads."""
    if device not in (None, "cpu"):
        raise DsregError(f"numpy batches live on the CPU, not {device!r}", fix="use framework='torch' for devices")
    if transform is not None:
        loader.transform = transform
    loader.num_threads = num_workers
    return loader
