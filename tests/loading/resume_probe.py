"""A training-loop stand-in run as a fresh process by the resume and distributed tests.

Reads a JSON spec from argv[1]: dataset path, split, framework, load() options, an optional state file
to resume from, and optionally a number of batches after which to save the state (and read on to the end
of the epoch, as a training loop would). Prints JSON with the rank, world size, batches per epoch and the
`id` column of every batch it read. A `distributed` spec joins a gloo process group through the file its
`store` names (rank and world size from RANK and WORLD_SIZE): no TCP port that another process could take.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

import dsreg.loading


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get("distributed"):
        import torch.distributed as dist

        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        dist.init_process_group("gloo", init_method=Path(spec["store"]).as_uri(), rank=rank, world_size=world)
    loader = dsreg.loading.load(spec["dataset"], spec["split"], spec["framework"], **spec["options"])
    if spec.get("state_in"):
        loader.load_state_dict(json.loads(Path(spec["state_in"]).read_text()))
    core = getattr(loader, "loader", loader)
    batches: list[list[int]] = []
    for batch in loader:
        batches.append(np.asarray(batch["id"]).tolist())
        if len(batches) == spec.get("save_after"):
            Path(spec["state_out"]).write_text(json.dumps(loader.state_dict()))
    if spec.get("distributed"):
        dist.destroy_process_group()
    out = {"rank": core.rank, "world": core.world_size, "len": len(loader), "batches": batches, "pid": os.getpid()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
