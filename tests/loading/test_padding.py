"""`pad_fits`: which pad values a padded column's dtype holds (the torch adapter refuses the others up front)."""

from __future__ import annotations

import numpy as np
import pytest

from dsreg.loading.padding import pad_fits


@pytest.mark.parametrize(
    ("pad_value", "dtype", "fits"),
    [
        (0, "uint8", True),
        (-1, "int16", True),
        (-100, "uint8", False),  # numpy raises OverflowError
        (2**63, "int64", False),
        (0.5, "int32", False),  # numpy truncates to 0: padding that looks like a token
        (float("nan"), "int64", False),  # numpy casts to int64's minimum
        (-1, "bool", False),  # becomes True
        (float("nan"), "float32", True),
        (0.1, "float32", True),  # rounded to float32's precision, as any float32 value is
        (float("inf"), "float16", True),
        (1e10, "float16", False),  # overflows to inf
    ],
)
def test_pad_fits(pad_value: float, dtype: str, fits: bool) -> None:
    assert pad_fits(pad_value, np.dtype(dtype)) is fits
