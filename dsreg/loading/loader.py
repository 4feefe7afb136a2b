"""The loader: one rank's epochs of batches, with a cursor that saves and restores in O(1).

A `Loader` is a cursor ``(epoch, batches consumed)`` over a `Sampler`. Iterating it yields the batches
of the current epoch from the cursor on, advancing it as each batch is handed out; a finished epoch
rolls over to the next (so successive ``for`` loops see fresh shuffles without calling `set_epoch`).
``state_dict()`` is that cursor plus the configuration it is only valid for; ``load_state_dict`` checks the
configuration and moves the cursor — no batch is replayed, because samplers answer any batch directly.
Only one iteration over a loader should be active at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Audio, Features
from dsreg.loading import arguments
from dsreg.loading.audiodecode import AudioDecode, resolve_audio
from dsreg.loading.balance import BalancedSampler
from dsreg.loading.buckets import BucketSampler
from dsreg.loading.dataset import Batch, Dataset
from dsreg.loading.distributed import detect_rank
from dsreg.loading.imagedecode import DecodeFn, ImageDecode, decode_column, resolve_decode
from dsreg.loading.sampler import RangeSampler, Sampler, check_last_batch

STATE_FORMAT = 1
_CURSOR = ("format", "epoch", "batches")  # a state's position; every other key is the loader it belongs to
Transform = Callable[[Batch], Batch]


def fetch_batch(
    dataset: Dataset,
    indices: np.ndarray,
    epoch: int,
    decode: ImageDecode | DecodeFn | None = None,
    transform: Transform | None = None,
    audio: AudioDecode | None = None,
    out: np.ndarray | None = None,
) -> Batch:
    """Rows `indices` of `dataset`, the image column decoded for `epoch` (uint8 NCHW) if `decode`, the audio
    converted to float32 if `audio`, then `transform`. An `ImageDecode` writes into `out` when given (torch's
    workers pass a shared-memory batch).

    Also what torch's workers run, so every framework decodes the same row the same way."""
    indices = np.asarray(indices, dtype=np.int64)
    batch = dataset.take(indices)
    if isinstance(decode, ImageDecode):
        batch[decode.column] = decode(batch[decode.column], epoch, indices, out=out)
    elif decode is not None:
        batch[decode_column(decode)] = _checked_pixels(decode(batch[decode_column(decode)], epoch, indices), indices)
    if audio is not None:
        batch = audio(batch)
    return transform(batch) if transform is not None else batch


def _checked_pixels(pixels: Any, indices: np.ndarray) -> np.ndarray:
    """A user decode's result, which must be what every adapter declares: uint8 (N, C, H, W), a row per index
    (tf's generator would cast float pixels to uint8 silently)."""
    if isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 4 and len(pixels) == len(indices):
        return pixels
    got = f"{pixels.dtype} of shape {pixels.shape}" if isinstance(pixels, np.ndarray) else f"a {type(pixels).__name__}"
    raise DsregError(
        f"the decode function returned {got}, not a uint8 (N, C, H, W) array of the batch's {len(indices)} rows",
        fix="return numpy uint8 pixels, channels first (normalise on the device); or transform after decoding",
    )


def last_batch_policy(last_batch: str | None, drop_last: bool) -> str:
    """The effective policy: `last_batch` if given, else ``drop`` when `drop_last`, else ``partial``."""
    if last_batch is None:
        return "drop" if drop_last else "partial"
    if not isinstance(last_batch, str):
        raise DsregError(f"last_batch must be a string, got {last_batch!r}", fix="use 'drop', 'partial' or 'pad'")
    if drop_last and last_batch != "drop":
        raise DsregError(f"drop_last=True contradicts last_batch={last_batch!r}", fix="give only one of them")
    return check_last_batch(last_batch)


def _length_columns(dataset: Dataset, column: str | list[str] | None) -> list[str]:
    """The columns whose lengths the token budget applies to: the one given, those listed (a row's length is
    then its longest, so every side of a batch stays within the budget), the only audio column (speech is
    budgeted by duration, in frames), or the only ragged column."""
    if column is not None:
        return [column] if isinstance(column, str) else list(column)
    audio = [n for n, f in dataset.features.items() if isinstance(f, Audio)]
    if len(audio) == 1:
        return audio
    ragged = [n for n, f in dataset.features.items() if f.length_unit in ("elements", "characters")]
    if len(ragged) != 1:
        raise DsregError(
            f"max_tokens needs to know which column's length to budget ({len(ragged)} candidates: {ragged})",
            fix="pass length_column=NAME, or a list of names to budget each of them",
        )
    return ragged


class Loader:
    """An iterable of batches (dicts of numpy arrays) for one rank, with ``len``, ``set_epoch`` and resume state.

    `last_batch` is ``drop``, ``partial`` or ``pad`` (see `dsreg.loading.sampler`); `balance` names an integer
    label column to balance classes in every batch (`dsreg.loading.balance`), with `batch_size=None` for one row
    per class present; `max_tokens` switches to length bucketing on `length_column` (one name, or a list to budget
    each; `within_buckets` ``shuffle`` or ``sorted`` inside buckets), where `batch_size` is not used.
    `num_threads` > 0 prefetches that many batches ahead in threads (numpy's gathers release the GIL). `decode`
    ("train", "eval", an `ImageDecode` or a function) decodes the image column into uint8 (N, 3, H, W)
    (`dsreg.loading.imagedecode`); `audio_dtype` ("int16", the default, or "float32") is the dtype audio columns
    are delivered in (`dsreg.loading.audiodecode`).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 32,
        *,
        shuffle: bool = False,
        seed: int = 0,
        last_batch: str | None = None,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        balance: str | None = None,
        max_tokens: int | None = None,
        length_column: str | list[str] | None = None,
        num_buckets: int = 16,
        within_buckets: str = "shuffle",
        transform: Transform | None = None,
        num_threads: int = 0,
        decode: str | ImageDecode | DecodeFn | None = None,
        audio_dtype: str | None = None,
    ):
        if transform is not None and not callable(transform):
            raise DsregError(f"transform must be a function of a batch, got {transform!r}")
        self.dataset = dataset
        if batch_size is not None:
            batch_size = arguments.integer("batch_size", batch_size, minimum=1)
        self.transform = transform
        self.num_threads = arguments.integer("num_threads", num_threads, minimum=0)
        balance = arguments.optional_name("balance", balance)
        if not isinstance(length_column, list):
            length_column = arguments.optional_name("length_column", length_column)
        elif not length_column or not all(isinstance(c, str) and c in dataset.features for c in length_column):
            raise DsregError(
                f"length_column={length_column!r} must name columns of the dataset",
                fix=f"columns are: {', '.join(dataset.column_names)}",
            )
        max_tokens = arguments.optional_integer("max_tokens", max_tokens, minimum=1)
        num_buckets = arguments.integer("num_buckets", num_buckets, minimum=1)
        self.decode = resolve_decode(decode, arguments.seed(seed))
        if self.decode is not None and decode_column(self.decode) not in dataset.features.names():
            raise DsregError(
                f"decode= decodes the column {decode_column(self.decode)!r}, which {dataset.split} does not have",
                fix=f"the columns are {', '.join(dataset.features.names())}; pass ImageDecode(column=...)",
            )
        self.audio = resolve_audio(audio_dtype, dataset.features)
        r, w = detect_rank(rank, world_size)
        common: dict[str, Any] = {
            "shuffle": arguments.boolean("shuffle", shuffle),
            "seed": arguments.seed(seed),
            "rank": r,
            "world_size": w,
            "last_batch": last_batch_policy(last_batch, arguments.boolean("drop_last", drop_last)),
        }
        if balance is not None and max_tokens is not None:
            raise DsregError("balance= and max_tokens= cannot be combined", fix="choose one way to form batches")
        self.sampler: Sampler
        self.batching: dict[str, str | None] = {"balance": balance, "length_column": None}
        if balance is not None:
            self.sampler = balanced = BalancedSampler(dataset.read_column(balance), batch_size, **common)
            self.batch_size: int = balanced.batch_size
        elif batch_size is None:
            raise DsregError("batch_size=None (one row per class) needs balance=", fix="pass a batch_size, e.g. 32")
        elif max_tokens is not None:
            self.batch_size = batch_size
            columns = _length_columns(dataset, length_column)
            self.batching["length_column"] = ",".join(columns)
            lengths = np.stack([dataset.lengths(c) for c in columns], axis=1)
            self.sampler = BucketSampler(lengths, max_tokens, num_buckets=num_buckets, within=within_buckets, **common)
        else:
            self.batch_size = batch_size
            self.sampler = RangeSampler(len(dataset), batch_size, **common)
        self.epoch = 0
        self.consumed = 0

    @property
    def features(self) -> Features:
        """The features of the batches: the dataset's, with audio in the dtype it is delivered in."""
        features = self.dataset.features
        return features if self.audio is None else self.audio.features(features)

    @property
    def rank(self) -> int:
        return self.sampler.rank

    @property
    def world_size(self) -> int:
        return self.sampler.world_size

    def __len__(self) -> int:
        """Batches per epoch on this rank; the same on every rank."""
        return len(self.sampler)

    def __repr__(self) -> str:
        return f"Loader({self.dataset!r}, batches={len(self)}, rank={self.rank}/{self.world_size})"

    def set_epoch(self, epoch: int) -> None:
        """Start `epoch` from its first batch; the current epoch keeps its position (so a restored cursor survives)."""
        epoch = arguments.integer("epoch", epoch, minimum=0)
        if epoch != self.epoch:
            self.epoch, self.consumed = epoch, 0

    def batch_indices(self, epoch: int, start: int = 0) -> Iterator[np.ndarray]:
        """Row indices of this rank's batches of `epoch` from batch `start` on (pure; does not move the cursor)."""
        epoch = arguments.integer("epoch", epoch, minimum=0)
        start = arguments.integer("start", start, minimum=0)
        for i in range(start, len(self)):
            yield self.sampler.batch(epoch, i)

    def fetch(self, indices: np.ndarray) -> Batch:
        """Read one batch of rows of the current epoch, decode its images (`decode`) and apply the transform."""
        return fetch_batch(self.dataset, indices, self.epoch, self.decode, self.transform, self.audio)

    def begin_epoch(self) -> tuple[int, int]:
        """Roll a finished epoch over to the next and return the cursor ``(epoch, start batch)`` to read from."""
        if self.consumed >= len(self):
            self.epoch, self.consumed = self.epoch + 1, 0
        return self.epoch, self.consumed

    def advance(self) -> None:
        """Count one batch as handed to the user (adapters that fetch ahead call this on delivery)."""
        self.consumed += 1

    def __iter__(self) -> Iterator[Batch]:
        epoch, start = self.begin_epoch()
        for batch in self._fetched(epoch, start):
            self.advance()
            yield batch

    def _fetched(self, epoch: int, start: int) -> Iterator[Batch]:
        indices = self.batch_indices(epoch, start)
        if self.num_threads <= 0:
            yield from map(self.fetch, indices)
            return
        with ThreadPoolExecutor(self.num_threads, thread_name_prefix="dsreg-fetch") as pool:
            pending: deque[Future[Batch]] = deque()
            for idx in indices:
                pending.append(pool.submit(self.fetch, idx))
                if len(pending) > self.num_threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def state_dict(self) -> dict[str, Any]:
        """The cursor and the configuration it belongs to, as a JSON-able dict."""
        return {"format": STATE_FORMAT, "epoch": self.epoch, "batches": self.consumed, **self._identity()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Move the cursor to a saved position after checking the state was saved by an equivalent loader."""
        if not isinstance(state, Mapping):
            raise DsregError(f"loader state must be the dict state_dict() returned, got {type(state).__name__}")
        if state.get("format") != STATE_FORMAT:
            raise DsregError(f"loader state format {state.get('format')!r} is not {STATE_FORMAT}")
        expected = self._identity()
        # every setting either side records: one a loader leaves out at its default is a difference too
        keys = [*expected, *(k for k in state if k not in expected and k not in _CURSOR)]
        diffs = [
            f"{k}: saved {state.get(k)!r}, now {expected.get(k)!r}" for k in keys if state.get(k) != expected.get(k)
        ]
        if diffs:
            raise DsregError(
                "the saved loader state belongs to a different loader (" + "; ".join(diffs) + ")",
                fix="build the loader with the same dataset, split, batching, seed and ranks as when it was saved",
            )
        epoch = arguments.integer("the saved state's epoch", state.get("epoch"), minimum=0)
        batches = arguments.integer("the saved state's batches", state.get("batches"), minimum=0)
        if batches > len(self):
            raise DsregError(f"saved position {batches} is outside an epoch of {len(self)} batches")
        self.epoch, self.consumed = epoch, batches

    def _identity(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset.manifest.full_name,
            "split": self.dataset.split,
            "rows": len(self.dataset),
            "batches_per_epoch": len(self),
            **self.batching,
            **self.sampler.config(),
        }
