"""TIMIT's 61→48→39 folding: the set sizes, q deleted, the merges FORMATS.md lists, and Kaldi's real table."""

from __future__ import annotations

import pytest

from dsreg.speech.phones import PHONES_39, PHONES_48, PHONES_61, fold, fold_phone
from dsreg.testing.realdata import realdata

MERGES_39 = {
    "ao": "aa", "ax": "ah", "ax-h": "ah", "axr": "er", "bcl": "sil", "dcl": "sil", "gcl": "sil", "kcl": "sil",
    "pcl": "sil", "tcl": "sil", "epi": "sil", "h#": "sil", "pau": "sil", "el": "l", "em": "m", "en": "n",
    "eng": "ng", "hv": "hh", "ix": "ih", "nx": "n", "ux": "uw", "zh": "sh",
}  # fmt: skip
SET_39 = "aa ae ah aw ay b ch d dh dx eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh sil t th uh uw v w y z"


def test_set_sizes_and_the_39_set() -> None:
    assert (len(PHONES_61), len(PHONES_48), len(PHONES_39)) == (61, 48, 39)
    assert set(PHONES_39) == set(SET_39.split())


def test_merges_and_q_deleted() -> None:
    for phone, folded in MERGES_39.items():
        assert fold_phone(phone, 39) == folded, phone
    assert fold_phone("q", 48) is None and fold_phone("q", 39) is None
    assert fold(["h#", "q", "ix", "zh", "bcl", "b"], 48) == ["sil", "ix", "zh", "vcl", "b"]
    assert fold(["h#", "q", "ix", "zh", "bcl", "b"], 39) == ["sil", "ih", "sh", "sil", "b"]
    assert fold(fold(["ix", "vcl", "cl", "epi"], 48), 39) == ["ih", "sil", "sil", "sil"]  # 48-labels fold on
    assert fold(list(PHONES_39), 39) == list(PHONES_39)
    with pytest.raises(KeyError):
        fold_phone("xx", 39)


MAP = realdata("timit", "phones.60-48-39.map")


@pytest.mark.skipif(MAP is None, reason="Kaldi's phones.60-48-39.map (../shared/realdata/timit) is not on this machine")
def test_equals_kaldis_table() -> None:
    assert MAP is not None
    rows = [line.split() for line in MAP.read_text().splitlines() if line.strip()]
    assert sorted(r[0] for r in rows) == sorted(PHONES_61)
    for row in rows:
        expected = (row[1], row[2]) if len(row) == 3 else (None, None)
        assert (fold_phone(row[0], 48), fold_phone(row[0], 39)) == expected, row[0]
