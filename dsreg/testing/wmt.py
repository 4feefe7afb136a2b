"""Fake WMT raw data in the vendors' layouts and with their quirks, for the `wmt` and `wmt_xml` readers.

- `write_sgml_pair`: a pre-2021 test set's source and reference `.sgm` files: raw `&` and `<` inside text
  (not valid XML), `<doc docid genre origlang>`, some segments wrapped in `<p>`, one with spaces around.
- `write_wmt_xml`: a 2021+ `wmttest20NN.<pair>.all.xml`: a collection with two translators (A, B) whose
  order differs between documents, a translator-less reference, a segment without any reference, system
  outputs (`<hyp>`), a test-suite document, an empty collection, a document outside any collection. Its rows
  hold one reference per translator of the file (A, B, the nameless one), `""` where one has none.
- `make_wmt14_archives`: the vendor archives of the WMT14 recipe for one pair, tiny, in the exact layouts
  (`training-parallel-europarl-v7.tgz` → `training/europarl-v7.de-en.de` …), with the rows they hold;
  `test-filtered.tgz` holds both directions' files (`-src.de.sgm` + `-ref.en.sgm`, `-src.en.sgm` +
  `-ref.de.sgm`), each a different selection, as the vendor ships them.
- `write_tmx`, `write_tsv`: the other formats parallel corpora come in.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

_WORDS = {
    "en": ("Good morning", "Trade & industry", "The street is long", "A b < c", "Bye"),
    "de": ("Guten Morgen", "Handel & Industrie", "Die Straße ist lang", "A b < c", "Tschüss"),
    "fr": ("Bonjour", "Commerce & industrie", "La rue est longue", "A b < c", "Au revoir"),
    "cs": ("Dobré ráno", "Obchod & průmysl", "Ulice je dlouhá", "A b < c", "Ahoj"),
}


def sentence(lang: str, i: int, part: str = "") -> str:
    """The i-th fake sentence of `lang`, distinct per index and part (raw `&` and `<` in some)."""
    words = _WORDS.get(lang, _WORDS["en"])
    return f"{words[i % len(words)]} {part}{i}".strip()


def write_sgml_pair(
    dest: Path, src_name: str, ref_name: str, langs: tuple[str, str], docs: int = 3, segs: int = 4
) -> list[dict[str, str]]:
    """Write a source and a reference `.sgm` file; return the rows they hold (langs, doc_id, genre, origlang)."""
    rows: list[dict[str, str]] = []
    texts: dict[str, list[str]] = {langs[0]: [], langs[1]: []}
    for d in range(docs):
        doc_id, genre, origlang = f"{d + 1}-paper.{langs[d % 2]}", "news", langs[d % 2]
        for lang in langs:
            texts[lang].append(f'<doc docid="{doc_id}" genre="{genre}" origlang="{origlang}">\n')
            if d == 1:
                texts[lang].append("<p>\n")
        for s in range(segs):
            row = {lang: sentence(lang, d * segs + s, "sgml ") for lang in langs}
            for lang in langs:
                pad = "  " if s == 2 else ""
                texts[lang].append(f'<seg id="{s + 1}">{pad}{row[lang]}{pad}</seg>\n')
            rows.append({**row, "doc_id": doc_id, "genre": genre, "origlang": origlang})
        for lang in langs:
            texts[lang].append("</p>\n</doc>\n" if d == 1 else "</doc>\n")
    for name, lang, kind in ((src_name, langs[0], "srcset"), (ref_name, langs[1], "refset")):
        head = f'<{kind} setid="newstest" srclang="any">\n'
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(head + "".join(texts[lang]) + f"</{kind}>\n", encoding="utf-8")
    return rows


def _p(segments: dict[int, str]) -> str:
    return "<p>" + "".join(f'<seg id="{i}">{escape(t)}</seg>' for i, t in segments.items()) + "</p>"


def write_wmt_xml(path: Path, src: str, tgt: str, extra: int = 0) -> list[dict[str, object]]:
    """Write a WMT 2021+ XML test set for `src`-`tgt`; return the rows a correct reader gives. `extra` adds a
    plain document of that many referenced segments to the general collection (a copy of a chosen size)."""
    rows: list[dict[str, object]] = []
    docs: list[str] = []

    def doc(
        doc_id: str,
        collection: str,
        refs: list[tuple[str | None, dict[int, str]]],
        n: int,
        domain: str | None = None,
        testsuite: bool = False,
    ) -> str:
        source = {i: sentence(src, i, doc_id + " ") for i in range(1, n + 1)}
        attrs = f"id={quoteattr(doc_id)} origlang={quoteattr(src)}"
        attrs += f" domain={quoteattr(domain)}" if domain else ""
        attrs += ' testsuite="challenge"' if testsuite else ""
        body = f'<src lang="{src}">{_p(source)}</src>'
        for translator, segs in refs:
            who = "" if translator is None else f" translator={quoteattr(translator)}"
            body += f'<ref lang="{tgt}"{who}>{_p(segs)}</ref>'
        body += f'<hyp lang="{tgt}" system="sys1">{_p({i: "hyp " + t for i, t in source.items()})}</hyp>'
        if not testsuite:
            by_translator = dict(refs)
            for i in range(1, n + 1):
                texts = [by_translator.get(t, {}).get(i, "") for t in ("A", "B", None)]  # the file's translators
                if any(texts):
                    rows.append(
                        {
                            src: source[i],
                            tgt: next(t for t in texts if t),
                            f"{tgt}_refs": texts,
                            "doc_id": doc_id,
                            "collection": collection,
                            "domain": domain or "",
                            "origlang": src,
                        }
                    )
        return f"<doc {attrs}>{body}</doc>"

    def ref(n: int, who: str, skip: int | None = None) -> dict[int, str]:
        return {i: ("" if i == skip else sentence(tgt, i, who + " ")) for i in range(1, n + 1)}

    news = [
        doc("d1", "general", [("A", ref(3, "A")), ("B", ref(3, "B"))], 3, domain="news"),
        doc("d2", "general", [("B", ref(2, "B2")), ("A", ref(2, "A2", skip=2))], 2, domain="social"),
        doc("d3", "general", [("A", ref(2, "A3", skip=1))], 2),
        doc("ts", "general", [("A", ref(2, "TS"))], 2, testsuite=True),
    ]
    if extra:
        news.append(doc("d5", "general", [("A", ref(extra, "A5"))], extra, domain="news"))
    docs.append(f'<collection id="general">{"".join(news)}</collection>')
    docs.append('<collection id="empty"></collection>')
    docs.append(doc("d4", "", [(None, ref(2, "X"))], 2))
    text = f"<?xml version='1.0' encoding='utf-8'?>\n<dataset id=\"wmttest\">{''.join(docs)}</dataset>\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return rows


def write_tmx(path: Path, pairs: list[dict[str, str]]) -> None:
    """A TMX file with one `<tu>` per pair (language tags with a region, e.g. `en-GB`), plus a unit missing a
    language (skipped) and inline markup inside one segment: a `<hi>` whose text is kept, and native codes of
    the original document (`<bpt>`, `<ept>`, `<ph>`) that are not text."""
    units = []
    for n, pair in enumerate(pairs):
        segs = {
            lang: escape(t)
            if n
            else f'{escape(t[:3])}<bpt i="1">&lt;b&gt;</bpt><hi type="x">{escape(t[3:5])}</hi><ept i="1">&lt;/b&gt;'
            f"</ept><ph>&lt;br/&gt;</ph>{escape(t[5:])}"
            for lang, t in pair.items()
        }
        tuvs = "".join(f'<tuv xml:lang="{lang}-{lang.upper()}"><seg>{seg}</seg></tuv>' for lang, seg in segs.items())
        units.append(f"<tu>{tuvs}</tu>")
    units.append('<tu><tuv xml:lang="en"><seg>orphan</seg></tuv></tu>')
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<tmx version="1.4"><header srclang="en"/>'
    body = f"{head}<body>{''.join(units)}</body></tmx>\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")


def tmx_rows(pairs: list[dict[str, str]]) -> list[dict[str, str]]:
    """What `write_tmx` holds once read: each pair's text, the `<hi>` text kept and the native codes gone."""
    return [dict(pair) for pair in pairs]


def write_tsv(path: Path, pairs: list[dict[str, str]], langs: tuple[str, str]) -> None:
    """A CzEng-like tab-separated file: id, score, first language, second language."""
    lines = [f"s{n}\t0.9\t{p[langs[0]]}\t{p[langs[1]]}\n" for n, p in enumerate(pairs)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


def _tgz(path: Path, members: dict[str, bytes], *, compress: bool = True) -> None:
    """A deterministic tar (gzip'd unless `compress` is false) of the given members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)


def _lines(rows: list[dict[str, str]], lang: str) -> bytes:
    return "".join(r[lang] + "\n" for r in rows).encode()


def make_wmt14_archives(dest: str | os.PathLike[str], pair: str, rows: int = 4) -> dict[str, list[dict[str, str]]]:
    """Write the WMT14 vendor archives of `pair` (`de-en`, `fr-en`, `cs-en`) under `dest`; return split → rows
    (train as the readers give it, before cleaning; one train line pair has an empty side; the filtered test sets
    under `test_filtered_<xx>_en` and `test_filtered_en_<xx>`)."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    xx = pair.split("-")[0]
    langs = (xx, "en")
    corpora = {
        "training-parallel-europarl-v7.tgz": "training/europarl-v7.{p}.{l}",
        "training-parallel-commoncrawl.tgz": "commoncrawl.{p}.{l}",
        "training-parallel-nc-v9.tgz": "training/news-commentary-v9.{p}.{l}",
    }
    if xx == "fr":
        corpora["training-parallel-un.tgz"] = "un/undoc.2000.{p}.{l}"
    train: list[dict[str, str]] = []
    for number, (archive, pattern) in enumerate(corpora.items()):
        part = [{lang: sentence(lang, i, f"c{number} ") for lang in langs} for i in range(rows)]
        if number == 0:
            part[1][xx] = ""  # an empty side, as the real corpora have
        train += part
        _tgz(root / archive, {pattern.format(p=pair, l=lang): _lines(part, lang) for lang in langs})
    if xx == "fr":
        giga = [{lang: sentence(lang, i, "giga ") for lang in langs} for i in range(rows)]
        train += giga
        members = {f"giga-fren.release2.fixed.{lang}.gz": gzip.compress(_lines(giga, lang), mtime=0) for lang in langs}
        _tgz(root / "training-giga-fren.tar", members, compress=False)
    out: dict[str, list[dict[str, str]]] = {"train": train}
    staging = root / "_staging"
    staging.mkdir()
    tag = f"{xx}en"
    sets = {
        "validation": ("test.tgz", "test/newstest2013-src.{x}.sgm", "test/newstest2013-src.en.sgm"),
        "test": (
            "test-full.tgz",
            f"test-full/newstest2014-{tag}-src.{{x}}.sgm",
            f"test-full/newstest2014-{tag}-ref.en.sgm",
        ),
    }
    for split, (archive, src, ref) in sets.items():
        src = src.format(x=xx)
        out[split] = write_sgml_pair(staging / split, src, ref, langs, docs=3)
        _tgz(root / archive, {name: (staging / split / name).read_bytes() for name in (src, ref)})
    # the filtered release: one pair of files per direction, each its own selection of segments (as the real
    # de-en keeps 3,003 and en-de 2,737): X->en is 2 documents of 4, en->X 3 documents of 3
    filtered: dict[str, bytes] = {}
    for (src_lang, ref_lang), (docs, segs) in {(xx, "en"): (2, 4), ("en", xx): (3, 3)}.items():
        src, ref = f"test/newstest2014-{tag}-src.{src_lang}.sgm", f"test/newstest2014-{tag}-ref.{ref_lang}.sgm"
        split = f"test_filtered_{src_lang}_{ref_lang}"
        out[split] = write_sgml_pair(staging / split, src, ref, (src_lang, ref_lang), docs=docs, segs=segs)
        filtered.update({name: (staging / split / name).read_bytes() for name in (src, ref)})
    _tgz(root / "test-filtered.tgz", filtered)
    for path in sorted(staging.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    staging.rmdir()
    return out
