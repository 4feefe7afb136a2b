"""`audio_folder`: audio files (WAV, FLAC, … — what libsndfile reads) described by a metadata table.

A split's files are its metadata tables (CSV, TSV, JSON Lines or Parquet, see `table`), e.g.
`splits.train.files: "train/metadata.csv"`. Each row names an audio file in its `file_name` column
(`reader.args.file_column`), relative to the table's folder, and carries the other columns (transcript,
speaker, …), typed by the features like the `table` reader (`reader.args.columns` renames). The audio is
decoded with soundfile into the one `audio` feature, at the feature's dtype; a file at another sample
rate than the feature's, or with more than one channel, is an error (resample it first). Rows keep the
table's order; one task per metadata table.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Audio, Features
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.layout import COLUMNS, FILES, FORMAT, SOURCE, split_files, split_tree
from dsreg.readers.tabular import RowMapper, table_format, table_rows
from dsreg.sourcetree import SourceTree

_DTYPES = ("float32", "float64", "int16", "int32")  # what soundfile decodes to


class AudioFolderReader(Reader):
    """Audio files (WAV, FLAC, …) named by metadata tables with their transcript, speaker, …; one task per table."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "file_column", "str", "the table column naming each audio file, relative to the table", default="file_name"
        ),
        FORMAT,
        COLUMNS,
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (FILES, SOURCE)

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        audio = [n for n, f in features.items() if isinstance(f, Audio)]
        if len(audio) != 1:
            raise DsregError(
                f"the audio_folder reader fills exactly one audio feature, the features have {audio}",
                fix="declare one feature of type audio",
            )
        self.audio: str = audio[0]
        feature = features[self.audio]
        assert isinstance(feature, Audio)
        if feature.dtype not in _DTYPES:
            raise DsregError(
                f"features.{self.audio}.dtype is {feature.dtype}, which audio files do not decode to",
                fix=f"use one of: {', '.join(_DTYPES)}",
            )
        self.feature = feature
        self.file_column = str(self.args["file_column"])
        self.format = self.args["format"]
        self.mapper = RowMapper(features, self.args["columns"], skip=(self.audio,))

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """One task per metadata table of the split."""
        tree = split_tree(sources, split, split_args, "audio_folder")
        files = split_files(tree, split, split_args)
        for file in files:
            table_format(file, self.format)
        return files

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = split_tree(sources, split, split_args, "audio_folder")
        where = tree.location(task)
        folder = posixpath.dirname(task)
        members = set(tree.names())
        for position, row in table_rows(tree, task, table_format(task, self.format)):
            file = row.get(self.file_column)
            if not isinstance(file, str) or not file:
                raise DsregError(
                    f"{position} has no audio file name in column {self.file_column!r}",
                    path=where,
                    fix="name each row's audio file (relative to the table's folder), or set reader.args.file_column",
                )
            member = posixpath.normpath(posixpath.join(folder, file))
            if member not in members:
                raise DsregError(
                    f"{position} names the audio file {file!r}, which is not in the source (looked for {member!r})",
                    path=where,
                    fix="give file names relative to the metadata table's folder",
                )
            example = self.mapper(row, where, position)
            example[self.audio] = self._decode(tree, member)
            yield example

    def _decode(self, tree: SourceTree, member: str) -> np.ndarray:
        try:
            import soundfile
        except ImportError:
            raise DsregError(
                "the audio_folder reader needs soundfile", fix="pip install 'dsreg[audio]' (or soundfile)"
            ) from None
        where = tree.location(member)
        data = io.BytesIO(tree.read_bytes(member))
        try:
            samples, rate = soundfile.read(data, dtype=self.feature.dtype, always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            raise DsregError(
                f"the audio does not decode: {err}", path=where, fix="replace the file with a readable audio file"
            ) from None
        if rate != self.feature.sample_rate:
            raise DsregError(
                f"the audio is sampled at {rate} Hz, the feature {self.audio!r} at {self.feature.sample_rate} Hz",
                path=where,
                fix=f"resample the audio to {self.feature.sample_rate} Hz, or declare sample_rate: {rate}",
            )
        if samples.shape[1] != 1:
            raise DsregError(
                f"the audio has {samples.shape[1]} channels; the audio feature holds one",
                path=where,
                fix="mix or split the channels into mono files first",
            )
        return np.ascontiguousarray(samples[:, 0])
