"""Cutting a conversation side: the right channel and samples, a small overshoot cut at the end, and a segment
past the audio refused (its words are not in it) instead of stored as empty or cut-short audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsreg.errors import DsregError
from dsreg.sourcetree import DirectoryTree
from dsreg.speech.conversations import Conversation
from dsreg.testing.sphere import write_sphere


def _conversation(tmp_path: Path, frames: int = 16000) -> tuple[Conversation, np.ndarray]:
    rng = np.random.default_rng(1)
    samples = rng.integers(-20000, 20000, size=(2, frames)).astype(np.int16)
    write_sphere(tmp_path / "sw02001.sph", samples, 8000)
    return Conversation(DirectoryTree(tmp_path), "sw02001.sph"), samples


def test_a_segment_is_cut_from_its_own_channel(tmp_path: Path) -> None:
    conversation, samples = _conversation(tmp_path)
    np.testing.assert_array_equal(conversation.segment("A", 0.5, 1.25), samples[0, 4000:10000])
    np.testing.assert_array_equal(conversation.segment("B", 0.5, 1.25), samples[1, 4000:10000])


def test_an_end_less_than_half_a_second_past_the_audio_is_cut_at_the_end(tmp_path: Path) -> None:
    conversation, samples = _conversation(tmp_path)  # 2 s
    np.testing.assert_array_equal(conversation.segment("B", 1.5, 2.49), samples[1, 12000:])


@pytest.mark.parametrize(("start", "end"), [(2.0, 2.3), (2.7, 3.25), (1.5, 2.5), (0.0, 9.0)])
def test_a_segment_past_the_audio_is_refused(tmp_path: Path, start: float, end: float) -> None:
    conversation, _ = _conversation(tmp_path)  # 2 s: the words of these segments are not (all) in it
    with pytest.raises(DsregError, match=r"past the end of the audio \(2\.000 s\).*sw02001\.sph|sw02001\.sph.*past"):
        conversation.segment("A", start, end)
