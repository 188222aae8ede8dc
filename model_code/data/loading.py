"""Read a preset's training or test data into ``Example`` rows (splits.py splits them, labels.py fixes
their label set).

Every format a preset names (``Preset.data_format``) is read from a single file or from every data file
in a folder. Bad data never passes silently: it raises ``DataError`` naming the file, the line and the
reason. The only rows dropped on purpose are those the preset says to drop (``skip_labels``,
``skip_blank_text``), and each drop is counted in a warning.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from model_code.presets import Columns, DataFormat, Preset

logger = logging.getLogger(__name__)

_SUFFIXES = {
    DataFormat.CLASS_PER_FILE: frozenset({"", ".txt", ".seq", ".fa", ".fasta", ".fna"}),
    DataFormat.DEEPLOC_FASTA: frozenset({".fa", ".fasta", ".faa", ".fas"}),
    DataFormat.CSV: frozenset({".csv"}),
    DataFormat.JSONL: frozenset({".jsonl", ".json"}),
}
# DeepLoc's location token: the compartment, then its membrane flag (M membrane, S soluble, U unknown).
_DEEPLOC_LOCATION = re.compile(r"^(?P<location>.+)-(?P<membrane>[MSU])$")


class DataError(ValueError):
    """Bad input data; the message names the file, the line (when there is one) and the reason."""

    def __init__(self, reason: str, *, path: Path | str | None = None, line: int | None = None) -> None:
        where = "" if path is None else f"{path}: " if line is None else f"{path}, line {line}: "
        super().__init__(where + reason)
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Example:
    text: str
    text_pair: str | None
    label: str
    # Where the row came from ("file, line N"), for error messages about it after loading.
    origin: str = field(default="", compare=False)
    # DeepLoc marks its held-out test records in the header; no other format has such a mark.
    is_test: bool = False


def load_examples(preset: Preset, path: Path | str) -> list[Example]:
    """Every example in ``path``, a data file or a folder of them, read as ``preset.data_format``."""
    path = Path(path)
    examples = [example for file in _data_files(preset, path) for example in _read_file(preset, file)]
    if not examples:
        raise DataError("holds no examples", path=path)
    return examples


def _data_files(preset: Preset, path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError("no such file or folder", path=path)
    suffixes = _SUFFIXES[preset.data_format]
    files = sorted(
        child
        for child in path.iterdir()
        if child.is_file() and not child.name.startswith(".") and child.suffix.lower() in suffixes
    )
    if not files:
        shown = ", ".join(sorted(s or "(no suffix)" for s in suffixes))
        raise DataError(f"no {preset.data_format} data files ({shown}) in this folder", path=path)
    return files


def _read_file(preset: Preset, path: Path) -> list[Example]:
    try:
        # utf-8-sig: spreadsheet exports start with a byte-order mark that would otherwise prefix the
        # first column's name.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text (byte {error.start})", path=path) from None
    if not text.strip():
        raise DataError("the file is empty", path=path)
    readers = {
        DataFormat.CLASS_PER_FILE: _read_class_file,
        DataFormat.DEEPLOC_FASTA: _read_deeploc,
        DataFormat.CSV: _read_csv,
        DataFormat.JSONL: _read_jsonl,
    }
    return readers[preset.data_format](preset, path, text)


def _origin(path: Path, line: int) -> str:
    return f"{path}, line {line}"


def _sequence(preset: Preset, raw: str, *, path: Path, line: int) -> str:
    """The sequence in the preset's normal form (as serving reads it), checked against its alphabet."""
    sequence = preset.normalise_input(raw)
    if not sequence:
        raise DataError("the sequence is empty", path=path, line=line)
    if preset.alphabet is not None:
        for position, char in enumerate(sequence, start=1):
            if char not in preset.alphabet:
                raise DataError(
                    f"character {char!r} at position {position} of the sequence is not one of "
                    f"{preset.alphabet}",
                    path=path,
                    line=line,
                )
    return sequence


def _check_label(preset: Preset, label: str, *, path: Path, line: int | None) -> None:
    if preset.labels is not None and label not in preset.labels:
        raise DataError(
            f"unknown label {label!r}; preset {preset.name!r} has labels {', '.join(preset.labels)}",
            path=path,
            line=line,
        )


def _fasta_records(path: Path, text: str) -> Iterator[tuple[int, str, str]]:
    """(header line number, header without '>', sequence) for each FASTA record."""
    header: tuple[int, str] | None = None
    chunks: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(">"):
            if header is not None:
                yield _fasta_record(path, header, chunks)
            header, chunks = (number, stripped[1:].strip()), []
        elif header is None:
            raise DataError(
                "sequence before the first '>' header: not a FASTA record", path=path, line=number
            )
        else:
            chunks.append(stripped)
    if header is not None:
        yield _fasta_record(path, header, chunks)


def _fasta_record(path: Path, header: tuple[int, str], chunks: list[str]) -> tuple[int, str, str]:
    line, title = header
    if not title:
        raise DataError("FASTA header has no sequence ID", path=path, line=line)
    if not chunks:
        raise DataError(f"FASTA record {title.split()[0]!r} has no sequence", path=path, line=line)
    return line, title, "".join(chunks)


def class_of_file(preset: Preset, path: Path) -> str:
    """The label a class-per-file data file holds: the preset's label its name begins with, in any case
    (``circRNA_test.txt``, ``lncrna-train2.fa``; the longest when several do), else, for a preset whose
    labels come from the data, the file's stem."""
    if preset.labels is None:
        # The stem, not the name up to its first dot: class names may hold dots ("Cell.membrane.txt").
        return path.stem
    name = path.name.casefold()
    matches = [label for label in preset.labels if name.startswith(label.casefold())]
    if not matches:
        raise DataError(
            f"the file name begins with none of preset {preset.name!r}'s labels "
            f"({', '.join(preset.labels)}): name each file after the label it holds, in any case, "
            f"optionally followed by more (circRNA_test.txt)",
            path=path,
        )
    return max(matches, key=len)


def _read_class_file(preset: Preset, path: Path, text: str) -> list[Example]:
    label = class_of_file(preset, path)
    if any(line.lstrip().startswith(">") for line in text.splitlines()):
        rows = [(line, sequence) for line, _title, sequence in _fasta_records(path, text)]
    else:
        rows = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return [
        Example(_sequence(preset, raw, path=path, line=line), None, label, origin=_origin(path, line))
        for line, raw in rows
    ]


def _read_deeploc(preset: Preset, path: Path, text: str) -> list[Example]:
    examples = []
    for line, title, raw in _fasta_records(path, text):
        fields = title.split()
        if len(fields) not in (2, 3) or (len(fields) == 3 and fields[2] != "test"):
            raise DataError(
                f"DeepLoc header must read '>ID Location-M' with an optional ' test', got {'>' + title!r}",
                path=path,
                line=line,
            )
        match = _DEEPLOC_LOCATION.match(fields[1])
        if match is None:
            raise DataError(
                f"DeepLoc location {fields[1]!r} lacks its membrane suffix (-M, -S or -U)",
                path=path,
                line=line,
            )
        label = match["location"]
        _check_label(preset, label, path=path, line=line)
        examples.append(
            Example(
                _sequence(preset, raw, path=path, line=line),
                None,
                label,
                origin=_origin(path, line),
                is_test=len(fields) == 3,
            )
        )
    return examples


def _columns(preset: Preset) -> Columns:
    if preset.columns is None:
        raise ValueError(f"preset {preset.name!r} has no column mapping for tabular data")
    return preset.columns


def _row_examples(preset: Preset, path: Path, rows: Iterator[tuple[int, dict]]) -> list[Example]:
    """Examples from (line number, row mapping) pairs of a CSV or JSONL file."""
    columns = _columns(preset)
    wanted = [columns.text, *([columns.text_pair] if columns.text_pair else []), columns.label]
    examples = []
    skipped_labels: Counter[str] = Counter()
    skipped_blank = 0
    for line, row in rows:
        missing = [name for name in wanted if row.get(name) is None]
        if missing:
            raise DataError(f"missing column(s) {', '.join(missing)}", path=path, line=line)
        values = {}
        for name in wanted:
            value = row[name]
            if isinstance(value, int) and not isinstance(value, bool) and name == columns.label:
                value = str(value)
            if not isinstance(value, str):
                raise DataError(f"{name} must be a string, got {type(value).__name__}", path=path, line=line)
            values[name] = value.strip() if name == columns.label else preset.normalise_input(value)
        label = values[columns.label]
        if label in preset.skip_labels:
            skipped_labels[label] += 1
            continue
        inputs = [values[columns.text], values[columns.text_pair] if columns.text_pair else None]
        if any(value == "" for value in inputs):
            if preset.skip_blank_text:
                skipped_blank += 1
                continue
            raise DataError("an input is empty", path=path, line=line)
        if not label:
            raise DataError(f"{columns.label} is empty", path=path, line=line)
        _check_label(preset, label, path=path, line=line)
        if preset.alphabet is not None:
            inputs = [
                None if value is None else _sequence(preset, value, path=path, line=line) for value in inputs
            ]
        examples.append(Example(inputs[0], inputs[1], label, origin=_origin(path, line)))
    for label, count in skipped_labels.items():
        logger.warning(
            "%s: skipped %d rows labelled %r (preset %s drops them)", path, count, label, preset.name
        )
    if skipped_blank:
        logger.warning("%s: skipped %d rows with an empty input", path, skipped_blank)
    return examples


def _read_csv(preset: Preset, path: Path, text: str) -> list[Example]:
    # newline="": the csv module ends rows at \r and \n alone (str.splitlines would also end them at form
    # feeds and Unicode line separators, which exported notes hold as text).
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        columns = _columns(preset)
        wanted = [columns.text, *([columns.text_pair] if columns.text_pair else []), columns.label]
        missing = [name for name in wanted if name not in header]
        if missing:
            raise DataError(
                f"missing column(s) {', '.join(missing)}; the header has {', '.join(header)}",
                path=path,
                line=1,
            )

        def rows() -> Iterator[tuple[int, dict]]:
            start = reader.line_num + 1
            for row in reader:
                yield start, row
                start = reader.line_num + 1

        return _row_examples(preset, path, rows())
    except csv.Error as error:
        raise DataError(f"not valid CSV: {error}", path=path, line=reader.line_num) from None


def _read_jsonl(preset: Preset, path: Path, text: str) -> list[Example]:
    def rows() -> Iterator[tuple[int, dict]]:
        # JSON Lines ends a record at \n only; a raw U+2028 inside a JSON string is text.
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"not valid JSON: {error.msg}", path=path, line=number) from None
            if not isinstance(row, dict):
                raise DataError(f"expected a JSON object, got {type(row).__name__}", path=path, line=number)
            yield number, row

    return _row_examples(preset, path, rows())
