"""docs/evaluation.md documents every metric shipped with dsreg, with each of its declared arguments."""

from __future__ import annotations

from pathlib import Path

from dsreg.metrics import metric_infos

DOCS = Path(__file__).resolve().parents[2] / "docs" / "evaluation.md"


def test_every_shipped_metric_has_a_protocol_section_naming_its_arguments() -> None:
    text = DOCS.read_text(encoding="utf-8")
    sections = {block.split("\n", 1)[0]: block for block in text.split("\n### ")[1:]}
    shipped = [i for i in metric_infos() if i.distribution == "dsreg"]
    assert {i.name for i in shipped} >= {"accuracy", "bleu", "chrf", "cer", "word_accuracy"}
    for info in shipped:
        assert info.cls is not None, info.error
        heading = next((h for h in sections if f"`{info.name}`" in h), None)
        assert heading is not None, f"add a '### `{info.name}` — …' section to docs/evaluation.md"
        for arg in info.cls.arguments:
            assert f"`{arg.name}`" in sections[heading], f"document {info.name}'s argument {arg.name}"
