"""The end-of-archive rule both tar walks share: two zero blocks, then only zeros to the end of the file."""

from __future__ import annotations

import io

import pytest

from dsreg.errors import DsregError
from dsreg.tarend import check_end


def _fail(problem: str) -> DsregError:
    return DsregError(problem)


@pytest.mark.parametrize("tail", [bytes(512), bytes(512 + 9216), bytes(512 + (3 << 20))])
def test_the_second_zero_block_and_zero_padding_end_a_tar(tail: bytes) -> None:
    check_end(io.BytesIO(tail).read, 4096, _fail)


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        (b"", "it ends after 4608 bytes without the end-of-archive blocks"),
        (bytes(100), "it ends after 4708 bytes without the end-of-archive blocks"),
        (b"x".ljust(512, b"\0"), r"it ends at byte 4096 \(a damaged header\?\) yet data follows"),
        (bytes(512 + (2 << 20)) + b"late", r"it ends at byte 4096 .* yet data follows"),  # past the first chunk
    ],
)
def test_a_cut_or_data_after_the_first_zero_block_is_refused(tail: bytes, problem: str) -> None:
    with pytest.raises(DsregError, match=problem):
        check_end(io.BytesIO(tail).read, 4096, _fail)
