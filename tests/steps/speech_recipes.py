"""The shipped TIMIT recipe's configs with small speaker lists, so a small generated tree prepares through
the same steps and options (shared by the audio step tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dsreg.testing.timit import Speaker, reference

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "timit.yaml"
FACTS = reference()
CORE: list[str] = list(FACTS["core_test_speakers"])  # type: ignore[call-overload]
DEV: list[str] = list(FACTS["dev_speakers"])  # type: ignore[call-overload]
SPEAKERS = [
    Speaker("TRAIN", 1, "fxyz0"),
    Speaker("TRAIN", 4, "mqrs0"),
    Speaker("TEST", 1, CORE[0]),
    Speaker("TEST", 3, DEV[0]),
]
SPLITS = {
    "train": {"rows": 16, "args": {"part": "train"}},
    "validation": {"rows": 8, "args": {"part": "test", "speakers": [DEV[0]]}},
    "test": {"rows": 8, "args": {"part": "test", "speakers": [CORE[0]]}},
    "test_full": {"rows": 16, "args": {"part": "test"}},
}
SAMPLES = (1600, 6400)  # 0.1 to 0.4 s: 8 to 38 frames of 25 ms every 10 ms


def small_timit(recipes: Path, configs: tuple[str, ...], steps: list[dict[str, Any]] | None = None) -> str:
    """Write `timit-small` with the shipped `configs` (their steps, or `steps` when given) over SPLITS."""
    data: dict[str, Any] = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    chosen = {}
    for name in configs:
        config = dict(data["configs"][name])
        config["splits"] = SPLITS
        if steps is not None:
            config["steps"] = steps
        chosen[name] = config
    data.update(name="timit-small", configs=chosen, default_config=configs[0])
    recipes.mkdir(parents=True, exist_ok=True)
    (recipes / "timit-small.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return "timit-small"
