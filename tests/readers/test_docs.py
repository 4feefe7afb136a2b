"""docs/recipes.md lists every reader shipped with dsreg with its declared arguments, exactly."""

from __future__ import annotations

from pathlib import Path

from dsreg.readers import Reader, reader_infos

DOCS = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a pipe (as in `str | list[str]`) would end the cell."""
    return text.replace("|", "\\|")


def reader_section(name: str, cls: type[Reader]) -> str:
    """The Markdown block docs/recipes.md holds for one reader, rendered from its declarations."""
    rows = [("reader.args", a) for a in cls.arguments] + [("splits.<split>.args", a) for a in cls.split_arguments]
    table = "".join(f"| `{where}.{a.name}` | {_cell(a.summary())} | {_cell(a.help)} |\n" for where, a in rows)
    head = "| argument | type | meaning |\n|---|---|---|\n" if rows else "It takes no arguments.\n"
    return f"### `{name}`\n\n{cls.description()}\n\n{head}{table}"


def test_every_shipped_reader_is_documented_with_its_arguments() -> None:
    text = DOCS.read_text(encoding="utf-8")
    shipped = [i for i in reader_infos() if i.distribution == "dsreg"]
    assert {i.name for i in shipped} >= {"cifar_python", "cifar_binary"}
    for info in shipped:
        assert info.cls is not None, info.error
        section = reader_section(info.name, info.cls)
        assert section in text, f"add to docs/recipes.md, under '## Readers':\n\n{section}"
