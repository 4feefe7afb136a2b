"""Limits on a download, so a broken or hostile server costs bounded disk and time.

A server may send without end (a source without a declared `size`), trickle a byte now and then
(each byte restarts a read timeout), or accept the connection and say nothing. `DownloadLimits`
bounds each: a maximum size where the recipe declares none, a minimum average rate, an overall
deadline per source, and the silence after which an attempt is given up. Each is configurable by
an environment variable (documented in docs/preparing.md) or by argument.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from dsreg.errors import DsregError

_ENV = {
    "max_bytes": "DSREG_DOWNLOAD_MAX_BYTES",
    "deadline": "DSREG_DOWNLOAD_DEADLINE",
    "min_rate": "DSREG_DOWNLOAD_MIN_RATE",
    "rate_window": "DSREG_DOWNLOAD_RATE_WINDOW",
    "timeout": "DSREG_DOWNLOAD_TIMEOUT",
}


_FINITE = {"max_bytes": "1099511627776 (1 TiB)", "timeout": "3600 (an hour of silence)"}  # no "no limit" for these


@dataclass(frozen=True)
class DownloadLimits:
    """How much one source's download may cost; the defaults are what `from_env` gives unset."""

    max_bytes: int = 256 << 30  # a source without `size` may not exceed this (ImageNet's train tar is 138 GB)
    deadline: float = 24 * 3600.0  # seconds for one source, all mirrors and retries together
    min_rate: float = 16 << 10  # bytes/s, averaged over each `rate_window` of a transfer
    rate_window: float = 60.0
    timeout: float = 30.0  # seconds of silence (connect, headers or body) before an attempt is given up

    @classmethod
    def from_env(cls, **overrides: float | None) -> DownloadLimits:
        """The limits set by the DSREG_DOWNLOAD_* variables, then by the `overrides` that are not None."""
        values: dict[str, float] = {}
        for field, var in _ENV.items():
            raw = os.environ.get(var)
            if raw is not None:
                try:
                    values[field] = float(raw)
                except ValueError:
                    raise DsregError(
                        f"{var}={raw!r} is not a number", fix=f"set {var} to a number, or unset it"
                    ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        for field, value in values.items():
            if not value > 0:
                raise DsregError(
                    f"the download limit {field} must be positive, got {value}",
                    fix=f"set {_ENV[field]} (or the argument) to a positive number",
                )
            if field in _FINITE and not math.isfinite(value):
                raise DsregError(
                    f"the download limit {field} ({_ENV[field]}) must be finite, got {value}",
                    fix=f"set {_ENV[field]} (or the argument) to a large number instead, e.g. {_FINITE[field]}",
                )
        default = cls()
        return cls(
            max_bytes=int(values.get("max_bytes", default.max_bytes)),
            deadline=values.get("deadline", default.deadline),
            min_rate=values.get("min_rate", default.min_rate),
            rate_window=values.get("rate_window", default.rate_window),
            timeout=values.get("timeout", default.timeout),
        )


class Meter:
    """Watches one transfer attempt: raises DsregError once it exceeds a limit."""

    def __init__(self, limits: DownloadLimits, url: str, size: int | None, deadline: float, position: int):
        self.limits, self.url, self.deadline = limits, url, deadline
        self.cap = size if size is not None else limits.max_bytes
        self.declared = size is not None
        self._window = (time.monotonic(), position)

    def check(self, position: int) -> None:
        """Called after each block with the file's new size."""
        if position > self.cap:
            if self.declared:
                raise DsregError(f"the server sent more than the {self.cap} bytes the recipe expects")
            raise DsregError(
                f"the server sent more than {self.cap} bytes for a source whose size the recipe does not declare",
                fix="add `size` to the source in the recipe, or raise DSREG_DOWNLOAD_MAX_BYTES",
            )
        now = time.monotonic()
        check_deadline(self.deadline, self.url, position)
        started, start = self._window
        if now - started >= self.limits.rate_window:
            rate = (position - start) / (now - started)
            if rate < self.limits.min_rate:
                raise TransferError(
                    f"the server sent {rate:.0f} bytes/s over the last {now - started:.1f} s, below the minimum "
                    f"{self.limits.min_rate:.0f} bytes/s",
                    fix="try again later or another mirror; on a slow link lower DSREG_DOWNLOAD_MIN_RATE",
                )
            self._window = (now, position)


class TransferError(DsregError):
    """A mirror too slow or silent: its bytes are right, so they are kept for another mirror to resume."""


class DeadlineError(TransferError):
    """A source's overall download deadline passed: no mirror is tried after it."""


def check_deadline(deadline: float, url: str, position: int) -> None:
    """Raise DsregError once the monotonic `deadline` of a source's download has passed."""
    if time.monotonic() > deadline:
        raise DeadlineError(
            f"the download from {url} did not finish in time ({position} bytes received)",
            fix="try again (the bytes received are kept and resumed), or raise DSREG_DOWNLOAD_DEADLINE",
        )
