"""Universal Dependencies fakes in the release layouts: a treebank folder and the all-treebanks tarball.

`conllu_text` writes valid CoNLL-U with the format's quirks: `# newdoc`/`# newpar`/other comments, multiword
tokens (range IDs) with `SpaceAfter=No` on the token line, empty nodes (decimal IDs, enhanced DEPS only), a
sentence without `# text` and CRLF-free UTF-8 with non-ASCII forms. Content is deterministic from a seed; word
counts are by integer IDs, as UD counts them. Folders are `UD_<Language>-<Name>` holding
`<code>-ud-<part>.conllu` (a train split may come in pieces `<code>-ud-train-<piece>.conllu`, as UD_Czech-PDT's).
`pinned_recipe` points a copy of the shipped `ud` recipe at a generated tarball, which the release's sha256
would refuse.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_FORMS = ("de", "le", "chat", "maison", "été", "voit", "grand", "à", "les", "Zoë", "rouge", "mange", "naïve", "vite")
_UPOS = ("ADP", "DET", "NOUN", "NOUN", "AUX", "VERB", "ADJ", "ADP", "DET", "PROPN", "ADJ", "VERB", "ADJ", "ADV")
_RELS = ("nsubj", "obj", "obl", "amod", "det", "case", "nsubj:pass", "acl:relcl", "obl:tmod", "flat:name", "advmod")
FOLDERS = {
    "en_ewt": "UD_English-EWT",
    "en_pud": "UD_English-PUD",
    "fr_gsd": "UD_French-GSD",
    "de_gsd": "UD_German-GSD",
    "cs_pdt": "UD_Czech-PDT",
}


@dataclass(frozen=True)
class Counts:
    """What one generated file holds: sentences, words (integer IDs), multiword tokens, empty nodes, no-text ones."""

    sentences: int = 0
    words: int = 0
    multiword: int = 0
    empty_nodes: int = 0
    without_text: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, int, int, int, int]:
        return (self.sentences, self.words, self.multiword, self.empty_nodes, self.without_text)


def _sentence(rng: np.random.Generator, sent_id: str, index: int) -> tuple[list[str], Counts]:
    """The lines of one sentence: words 1..n, a range over words 2-3 every 4th, an empty node every 5th."""
    n = int(rng.integers(4, 9))
    picks = [int(p) for p in rng.integers(0, len(_FORMS), n - 1)]
    forms = [_FORMS[p] for p in picks] + ["."]
    upos = [_UPOS[p] for p in picks] + ["PUNCT"]
    heads = [0] + [int(rng.integers(1, k)) for k in range(2, n + 1)]
    rels = ["root"] + [_RELS[int(i)] for i in rng.integers(0, len(_RELS), n - 2)] + ["punct"]
    with_range, with_empty, with_text = index % 4 == 1, index % 5 == 2, index % 7 != 3
    misc = ["_"] * n
    misc[n - 2] = "SpaceAfter=No"  # the word before the final full stop
    surface: list[tuple[str, bool]] = []  # (form, space after) per token as written
    lines: list[str] = []
    for k in range(1, n + 1):
        if with_range and k == 2:
            fused = forms[1] + forms[2]
            lines.append(f"2-3\t{fused}\t_\t_\t_\t_\t_\t_\t_\t{'SpaceAfter=No' if n == 4 else '_'}")
            surface.append((fused, n != 4))
        elif not (with_range and k == 3):
            surface.append((forms[k - 1], misc[k - 1] == "_"))
        deps = f"{heads[k - 1]}:{rels[k - 1]}"
        feats = "Number=Sing" if upos[k - 1] == "NOUN" else "_"
        lines.append(
            f"{k}\t{forms[k - 1]}\t{forms[k - 1].lower()}\t{upos[k - 1]}\tX{k}\t{feats}\t{heads[k - 1]}\t"
            f"{rels[k - 1]}\t{deps}\t{'_' if with_range and k in (2, 3) else misc[k - 1]}"  # a range's words: no MISC
        )
        if with_empty and k == 1:
            lines.append("1.1\tvoit\tvoir\tVERB\t_\t_\t_\t_\t0:root|1:conj\tEmpty=Yes")
    text = "".join(f + (" " if space else "") for f, space in surface).rstrip(" ")
    head = [f"# sent_id = {sent_id}"] + ([f"# text = {text}"] if with_text else [])
    if index % 6 == 0:
        head.append("# translit = (a comment the reader keeps verbatim)")
    counts = Counts(1, n, int(with_range), int(with_empty), int(not with_text))
    return [*head, *lines], counts


def conllu_text(treebank: str, part: str, sentences: int, seed: int = 0) -> tuple[str, Counts]:
    """A CoNLL-U file of `sentences` sentences (a new document every 5, a new paragraph every 2) and its counts."""
    rng = np.random.default_rng([zlib.crc32(f"{treebank}:{part}".encode()), seed])
    out: list[str] = []
    total = Counts()
    for i in range(sentences):
        if i % 5 == 0:
            out.append(f"# newdoc id = {treebank}-{part}-doc{i // 5}")
        if i % 2 == 0:
            out.append(f"# newpar id = {treebank}-{part}-p{i // 2}")
        lines, counts = _sentence(rng, f"{treebank}-{part}-s{i}", i)
        out.extend([*lines, ""])
        total += counts
    return "\n".join(out) + "\n", total


def _folder(treebank: str) -> str:
    return FOLDERS.get(treebank, f"UD_{treebank}")


def write_treebank(
    dest: Path, treebank: str, sizes: Mapping[str, int | Sequence[int]], seed: int = 0
) -> tuple[Path, dict[str, Counts]]:
    """`dest/UD_<…>/` with README, LICENSE and one file per part (a list of sizes: train pieces a, b, …).

    Returns the folder and each part's counts."""
    folder = dest / _folder(treebank)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(f"# Generated {treebank}\n", encoding="utf-8")
    (folder / "LICENSE.txt").write_text("generated for tests\n", encoding="utf-8")
    counts: dict[str, Counts] = {}
    for part, size in sizes.items():
        pieces = [size] if isinstance(size, int) else list(size)
        total = Counts()
        for number, count in enumerate(pieces):
            suffix = "" if isinstance(size, int) else f"-{chr(ord('a') + number)}"
            text, got = conllu_text(treebank, f"{part}{suffix}", count, seed)
            (folder / f"{treebank}-ud-{part}{suffix}.conllu").write_text(text, encoding="utf-8")
            total += got
        counts[part] = total
    return folder, counts


def make_release(
    dest: Path, treebanks: Mapping[str, Mapping[str, int | Sequence[int]]], version: str = "2.16", seed: int = 0
) -> tuple[Path, dict[str, dict[str, Counts]]]:
    """`dest/ud-treebanks-v<version>.tgz` holding `ud-treebanks-v<version>/UD_…/` for each treebank; and counts."""
    dest.mkdir(parents=True, exist_ok=True)
    top = f"ud-treebanks-v{version}"
    staging = dest / f".{top}-staging"
    counts = {tb: write_treebank(staging / top, tb, sizes, seed)[1] for tb, sizes in treebanks.items()}
    archive = dest / f"{top}.tgz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted((staging / top).rglob("*")):
            info = tar.gettarinfo(str(path), str(path.relative_to(staging)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_file():
                tar.addfile(info, io.BytesIO(path.read_bytes()))
            else:
                tar.addfile(info)
    for path in sorted(staging.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    staging.rmdir()
    return archive, counts


def pinned_recipe(recipes: Path, archive: Path) -> Path:
    """Write `recipes/ud.yaml`: the shipped `ud` recipe with its release source pinned to `archive` (its sha256
    and size replace the vendor's), so a generated tarball passes as the release; returns `recipes`."""
    import yaml

    from dsreg.registry import recipe_dirs

    data = yaml.safe_load((recipe_dirs()[-1] / "ud.yaml").read_text(encoding="utf-8"))
    data["sources"]["release"].update(
        filename=archive.name, size=archive.stat().st_size, sha256=hashlib.sha256(archive.read_bytes()).hexdigest()
    )
    recipes.mkdir(parents=True, exist_ok=True)
    (recipes / "ud.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return recipes
