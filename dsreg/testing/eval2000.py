"""eval2000 (Hub5'00 English) as LDC ships it, small: ``hub5e_00/english/<file>.sph`` two-channel 8 kHz µ-law
with embedded shorten, and ``2000_hub5_eng_eval_tr/reference/hub5e00.english.000405.stm`` with comment
lines, tags, an ignored segment and GLM markup, for one Switchboard (``sw_*``) and one CallHome (``en_*``) file,
and beside it a small ``en20000405_hub5.glm`` with the rule kinds of the real one (hesitations made optional,
spellings, a context-free rule, hypothesis-only contraction alternations).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsreg.testing.sphere import write_sphere

STM = """;; CATEGORY "0" "" ""
;; LABEL "O" "Overall" "The Complete Test Set"
en_4156 A en_4156_A 0.31 1.25 <O,en,F,en-F>  oh yeah (%HESITATION)
en_4156 B en_4156_B 0.80 1.90 <O,en,M,en-M>  i'm {A / AN} okay
en_4156 A en_4156_A 1.90 2.60 <O,en,F,en-F>  IGNORE_TIME_SEGMENT_IN_SCORING
sw_4390 A sw_4390_A 0.00 0.75 <O,sw,M,sw-M>  right
sw_4390 B sw_4390_B 1.10 2.95 <O,sw,F,sw-F>  we do that every year
sw_4390 A sw_4390_A 2.00 3.00 <O,sw,M,sw-M>  uh-huh
"""


GLM = """;; en20000405_hub5.glm, small: the rule kinds the Hub5 GLM uses
* name "en20000405_hub5.glm"
* desc "generated for tests"
* format = 'NIST1'
* copy_no_hit = 'T'
* case_sensitive = 'F'

;; hesitations, optionally deletable on both sides
UH      =>  (%HESITATION)  / [ ] __ [ ]
UM      =>  (%HESITATION)  / [ ] __ [ ]
;; spellings
OK      =>  OKAY           / [ ] __ [ ]
ALRIGHT =>  ALL RIGHT ;; nonstandard
GONNA   =>  GOING TO       / [ ] __ [ ]

;; INPUT_DEPENDENT_APPLICATION = "ctm"
;; contractions in the hypothesis may stand for either expansion
[I'M]    => [{I AM / I'M}]          / [ ] __ [ ]
[WE'RE]  => [{WE ARE / WE'RE}]      / [ ] __ [ ]
"""


def make_eval2000(dest: Path, seconds: float = 3.0) -> Path:
    """Write ``dest/audio`` and ``dest/transcripts``; returns `dest`."""
    rng = np.random.default_rng(1)
    frames = int(seconds * 8000)
    t = np.arange(frames) / 8000
    for name in ("en_4156", "sw_4390"):
        side_a = 5000 * np.sin(2 * np.pi * 300 * t)
        side_b = 8000 * np.sin(2 * np.pi * 900 * t) + rng.normal(0, 400, frames)
        write_sphere(
            dest / "audio" / "hub5e_00" / "english" / f"{name}.sph",
            np.stack([side_a, side_b]).astype(np.int16),
            8000,
            coding="ulaw",
            shorten=True,
        )
    reference = dest / "transcripts" / "2000_hub5_eng_eval_tr" / "reference"
    reference.mkdir(parents=True, exist_ok=True)
    (reference / "hub5e00.english.000405.stm").write_text(STM)
    (reference / "en20000405_hub5.glm").write_text(GLM)
    return dest
