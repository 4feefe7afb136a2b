"""Switchboard-1 as LDC and ISIP ship it, small: two-channel 8 kHz µ-law SPHERE conversations with embedded
shorten (``swb1/sw0NNNN.sph``) and the ms98 transcripts (``swb_ms98_transcriptions/NN/NNNN/...-trans.text``).

Side A is a low tone and side B a high tone with noise, so a cut from the wrong channel is visible; the
transcripts exercise every special token of the ms98 release.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsreg.testing.sphere import write_sphere

# (start, end, words) per side; `[silence]`-only lines are dropped by the reader
_LINES = [
    (0.0, 0.51, "[silence]"),
    (0.51, 1.3, "yeah i [laughter] uh-huh"),
    (1.3, 1.95, "<b_aside> [noise] <e_aside>"),
    (1.95, 2.7, "[laughter-yes] it's wor[th]- the -[be]cause [vocalized-noise]"),
    (2.7, 3.25, "okay"),
]


def make_switchboard(dest: Path, conversations: tuple[int, ...] = (2001, 2005, 3439), seconds: float = 3.5) -> Path:
    """Write ``dest/audio`` and ``dest/transcripts``; returns `dest`. Each conversation gets both sides' lines."""
    rng = np.random.default_rng(0)
    frames = int(seconds * 8000)
    t = np.arange(frames) / 8000
    for conversation in conversations:
        side_a = 6000 * np.sin(2 * np.pi * 200 * t)
        side_b = 9000 * np.sin(2 * np.pi * 1100 * t) + rng.normal(0, 500, frames)
        samples = np.stack([side_a, side_b]).astype(np.int16)
        write_sphere(
            dest / "audio" / "swb1" / f"sw0{conversation}.sph",
            samples,
            8000,
            coding="ulaw",
            shorten=True,
            extra=[("conversation_id", "-s4", str(conversation)), ("database_id", "-s4", "SWB1")],
        )
        for side in "AB":
            folder = dest / "transcripts" / "swb_ms98_transcriptions" / str(conversation)[:2] / str(conversation)
            folder.mkdir(parents=True, exist_ok=True)
            lines = [
                f"sw{conversation}{side}-ms98-a-{n + 1:04d} {start:.6f} {end:.6f} {words}\n"
                for n, (start, end, words) in enumerate(_LINES)
            ]
            (folder / f"sw{conversation}{side}-ms98-a-trans.text").write_text("".join(lines))
    return dest
