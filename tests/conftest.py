"""Shared fixtures: an isolated dataset root and recipe path for every test."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests draw the same examples on every run (each test's are a function of its code: derandomized), keep
# no example database, and have no deadline nor timing health check, so a loaded CI machine cannot turn a pass into
# a failure and a failure reproduces. `pytest --hypothesis-profile=explore` draws fresh examples to hunt new bugs.
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


# What a developer's shell or a SLURM job may have set that changes what dsreg does: the tests set what they need
_AMBIENT = (
    "DSREG_RECIPES",
    "DSREG_CACHE",
    "DSREG_CACHE_BUDGET",
    "DSREG_DOWNLOAD_MAX_BYTES",
    "DSREG_DOWNLOAD_DEADLINE",
    "DSREG_DOWNLOAD_MIN_RATE",
    "DSREG_DOWNLOAD_RATE_WINDOW",
    "DSREG_DOWNLOAD_TIMEOUT",
    "RANK",
    "WORLD_SIZE",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_TMPDIR",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may read or write the user's real roots, recipes or cache, nor run as a rank or array element."""
    monkeypatch.setenv("DSREG_ROOT", str(tmp_path / "root"))
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def fake_recipe():
    """The `make_fake_recipe` helper, as a fixture (test modules cannot import conftest reliably)."""
    return make_fake_recipe


def make_fake_recipe(
    recipes_dir: Path,
    shipped: str,
    config: str,
    archive: Path,
    urls: list[str],
    *,
    rows: dict[str, int] | None = None,
    version: str | None = None,
) -> Path:
    """A copy of a shipped recipe whose `config` downloads `archive` from `urls` (a fake, so its checksum
    and size replace the vendor's) and, given `rows`, expects the fake's split sizes."""
    import hashlib

    import yaml

    from dsreg.registry import recipe_dirs

    data = yaml.safe_load((recipe_dirs()[-1] / f"{shipped}.yaml").read_text())
    cfg = data["configs"][config]
    cfg["sources"]["archive"] = {
        "urls": urls,
        "size": archive.stat().st_size,
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
    }
    for split, n in (rows or {}).items():
        cfg["splits"][split]["rows"] = n
    if version:
        data["version"] = version
    recipes_dir.mkdir(parents=True, exist_ok=True)
    path = recipes_dir / f"{shipped}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
