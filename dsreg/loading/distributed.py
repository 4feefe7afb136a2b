"""Which rank this process is and how many there are, without importing torch to find out.

Order: explicit arguments; an initialised ``torch.distributed`` process group (only if torch is already
imported — if it is not, no group can exist); ``RANK``/``WORLD_SIZE``; ``SLURM_PROCID``/``SLURM_NTASKS``;
else a single process. ``RANK``/``WORLD_SIZE`` come before SLURM's because a launcher that sets them
(``torchrun``, accelerate, deepspeed) runs inside a SLURM task and starts several processes per task: the
usual multi-node recipe, ``srun --ntasks-per-node=1 torchrun --nproc-per-node=8``, gives every process of a
node the same ``SLURM_PROCID``, so SLURM's pair would have all of them read the same part of the data.
"""

from __future__ import annotations

import os
import sys

from dsreg.errors import DsregError
from dsreg.loading import arguments


def _env_pair(rank_var: str, size_var: str) -> tuple[int, int] | None:
    rank, size = os.environ.get(rank_var), os.environ.get(size_var)
    if rank is None or size is None:
        return None
    try:
        return int(rank), int(size)
    except ValueError:
        raise DsregError(f"{rank_var}={rank!r} / {size_var}={size!r} are not integers") from None


def _torch_pair() -> tuple[int, int] | None:
    if "torch" not in sys.modules:
        return None
    dist = sys.modules["torch"].distributed
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()), int(dist.get_world_size())
    return None


def detect_rank(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """``(rank, world_size)`` from the arguments, torch.distributed, RANK/WORLD_SIZE, or SLURM, in that order."""
    if (rank is None) != (world_size is None):
        raise DsregError("give rank and world_size together, or neither (to detect them)")
    pair = None
    if rank is not None and world_size is not None:
        pair = (arguments.integer("rank", rank), arguments.integer("world_size", world_size))
    if pair is None:
        pair = _torch_pair()
    if pair is None:
        pair = _env_pair("RANK", "WORLD_SIZE") or _env_pair("SLURM_PROCID", "SLURM_NTASKS")
    r, w = pair or (0, 1)
    if w < 1 or not 0 <= r < w:
        raise DsregError(f"rank {r} is not within a world of size {w}", fix="use 0 <= rank < world_size")
    return r, w
