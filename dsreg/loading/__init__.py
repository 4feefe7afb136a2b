"""The load side: split expressions, random-access datasets, samplers, and resumable loaders.

Nothing here imports a deep-learning framework; adapters in `dsreg.frameworks` do, on demand.
"""

from dsreg.loading.api import load
from dsreg.loading.balance import BalancedSampler
from dsreg.loading.buckets import BucketSampler
from dsreg.loading.dataset import Dataset, RowIndexError, open_dataset
from dsreg.loading.distributed import detect_rank
from dsreg.loading.loader import Loader
from dsreg.loading.padding import pad_sequences
from dsreg.loading.permutation import Permutation
from dsreg.loading.sampler import RangeSampler, Sampler
from dsreg.loading.splits import Segment, parse_split

__all__ = [
    "BalancedSampler",
    "BucketSampler",
    "Dataset",
    "Loader",
    "Permutation",
    "RangeSampler",
    "RowIndexError",
    "Sampler",
    "Segment",
    "detect_rank",
    "load",
    "open_dataset",
    "pad_sequences",
    "parse_split",
]
