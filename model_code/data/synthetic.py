"""Synthetic data sets in each preset's real file format, with a signal a small model learns quickly.

For tests and the demo (no real data set ships with the code). Every generator plants a class signal
in otherwise random content, draws everything from one seeded numpy Generator, and so writes the same
bytes for the same arguments:

* circrna: circRNA vs lncRNA differ in GC content (mean 54% vs 42%, sd 3%) and in planted motifs:
  splice-site-like ``AGGTAAGT`` near both ends and through the body of circRNAs (their back-splice
  junction joins the ends), polyA signal ``AATAAA`` near the 3' end and ``TATAAA`` near the 5' end of
  lncRNAs.
* protein-localization: a compartment-specific sorting motif at the N terminus and once more inside.
* aptamer-pairs: fitness is the number of ``GGTTGG`` (G-quadruplex) copies; label 1 when Sequence1
  carries more than Sequence2.
* entailment: templated premises; hypotheses generalise (entailment), add unverifiable detail
  (neutral) or negate (contradiction); plus SNLI's no-consensus ``-`` rows, which loaders skip.
* medical-specialty: notes of clinical filler with specialty keywords; some specialties are rarer than
  the preset's ``min_class_count`` (so they merge into "Other"), and one row has no transcription.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_code.presets import AMINO_ACIDS, get_preset


@dataclass(frozen=True, kw_only=True)
class _Request:
    directory: Path
    n_per_class: int
    rng: np.random.Generator
    length_range: tuple[int, int] | None
    fasta: bool
    test_fraction: float


def write_dataset(
    preset_name: str,
    directory: Path | str,
    *,
    n_per_class: int,
    seed: int,
    length_range: tuple[int, int] | None = None,
    fasta: bool = False,
    test_fraction: float = 0.2,
) -> list[Path]:
    """Write a data set for ``preset_name`` into ``directory``; return the files written.

    ``length_range`` bounds sequence lengths (nucleotides, residues; words for text presets) and
    defaults to realistic values per preset; protein and aptamer sequences too short for their motifs
    are lengthened to fit them. ``fasta`` writes the circrna class files as FASTA instead
    of one sequence a line. ``test_fraction`` of DeepLoc records carry the `` test`` mark.
    """
    preset = get_preset(preset_name)
    if not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    if length_range is not None and not (
        isinstance(length_range, tuple) and 1 <= length_range[0] <= length_range[1]
    ):
        raise ValueError(
            f"length_range must be (minimum, maximum) with 1 <= minimum <= maximum, got {length_range!r}"
        )
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    request = _Request(
        directory=directory,
        n_per_class=n_per_class,
        rng=np.random.default_rng(seed),
        length_range=length_range,
        fasta=fasta,
        test_fraction=test_fraction,
    )
    return _GENERATORS[preset.name](request)


def _lengths(request: _Request, default: tuple[int, int], count: int) -> np.ndarray:
    low, high = request.length_range or default
    return request.rng.integers(low, high + 1, size=count)


def _random_dna(rng: np.random.Generator, length: int, gc: float) -> str:
    weights = np.array([1 - gc, gc, gc, 1 - gc]) / 2  # A C G T
    return "".join(rng.choice(list("ACGT"), size=length, p=weights))


def _plant(rng: np.random.Generator, sequence: str, motif: str, start: int, end: int) -> str:
    """``sequence`` with ``motif`` written over a random position within [start, end)."""
    end = min(end, len(sequence) - len(motif) + 1)
    if end <= start:
        return sequence
    at = int(rng.integers(start, end))
    return sequence[:at] + motif + sequence[at + len(motif) :]


def _circrna(request: _Request) -> list[Path]:
    rng = request.rng
    files = []
    for label, gc_mean in (("circRNA", 0.54), ("lncRNA", 0.42)):
        sequences = []
        for length in _lengths(request, (200, 3000), request.n_per_class):
            length = int(length)
            gc = float(np.clip(rng.normal(gc_mean, 0.03), 0.2, 0.8))
            sequence = _random_dna(rng, length, gc)
            edge = min(100, max(1, length // 4))
            if label == "circRNA":
                sequence = _plant(rng, sequence, "AGGTAAGT", 0, edge)
                sequence = _plant(rng, sequence, "AGGTAAGT", length - edge, length)
                for _ in range(length // 400):
                    sequence = _plant(rng, sequence, "AGGTAAGT", 0, length)
            else:
                sequence = _plant(rng, sequence, "TATAAA", 0, edge)
                sequence = _plant(rng, sequence, "AATAAA", length - edge, length)
                for _ in range(length // 400):
                    sequence = _plant(rng, sequence, "AATAAA", 0, length)
            sequences.append(sequence)
        if request.fasta:
            path = request.directory / f"{label}.fa"
            records = (f">{label}_{i + 1}\n{_wrap(s)}" for i, s in enumerate(sequences))
            path.write_text("\n".join(records) + "\n", encoding="utf-8")
        else:
            path = request.directory / f"{label}.txt"
            path.write_text("\n".join(sequences) + "\n", encoding="utf-8")
        files.append(path)
    return files


def _wrap(sequence: str, width: int = 60) -> str:
    return "\n".join(sequence[i : i + width] for i in range(0, len(sequence), width))


# Loosely after real sorting signals: hydrophobic signal peptides, NLS, mitochondrial presequences, ...
_LOCATION_MOTIFS = {
    "Cell.membrane": "LLVALIVAGL",
    "Cytoplasm": "DEEKAKEEGK",
    "Endoplasmic.reticulum": "MKLLLAVLSK",
    "Extracellular": "MKKLLFAIPL",
    "Golgi.apparatus": "RRLLAVFYWG",
    "Lysosome/Vacuole": "YQRLPTNDFG",
    "Mitochondrion": "MLRRSLRAFR",
    "Nucleus": "PKKKRKVEDP",
    "Peroxisome": "GHWNQSKL",
    "Plastid": "MASSMLSSAT",
}


def _protein(request: _Request) -> list[Path]:
    rng = request.rng
    labels = get_preset("protein-localization").labels or ()
    records = []
    for label in labels:
        motif = _LOCATION_MOTIFS[label]
        for length in _lengths(request, (100, 800), request.n_per_class):
            body = "".join(rng.choice(list(AMINO_ACIDS), size=max(int(length), 2 * len(motif) + 2)))
            sequence = "M" + motif + body[len(motif) + 1 :]
            sequence = _plant(rng, sequence, motif, len(motif) + 1, len(sequence))
            membrane = rng.choice(["M", "S", "U"])
            test = " test" if rng.random() < request.test_fraction else ""
            records.append((label, membrane, test, sequence))
    order = rng.permutation(len(records))
    path = request.directory / "deeploc.fasta"
    lines = []
    for number, index in enumerate(order, start=1):
        label, membrane, test, sequence = records[index]
        lines.append(f">SYN{number:06d} {label}-{membrane}{test}\n{_wrap(sequence)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [path]


def _aptamer(request: _Request) -> list[Path]:
    rng = request.rng
    motif = "GGTTGG"

    def aptamer(copies: int) -> str:
        length = max(int(_lengths(request, (30, 60), 1)[0]), (copies + 1) * len(motif))
        while True:  # redraw the rare sequence where random bases next to a copy form an extra one
            sequence = _random_dna(rng, length, 0.5).replace(motif, "GGATGG")
            slots = rng.choice(length // len(motif), size=copies, replace=False) * len(motif)
            for at in sorted(slots):
                sequence = sequence[:at] + motif + sequence[at + len(motif) :]
            if sequence.count(motif) == copies:
                return sequence

    rows = []
    for label in ("0", "1"):
        for _ in range(request.n_per_class):
            weaker, fitter = sorted(rng.choice(4, size=2, replace=False))
            first, second = (fitter, weaker) if label == "1" else (weaker, fitter)
            rows.append((aptamer(int(first)), aptamer(int(second)), label))
    path = request.directory / "aptamers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Sequence1", "Sequence2", "Label"])
        writer.writerows(rows[i] for i in rng.permutation(len(rows)))
    return [path]


_SUBJECTS = ["A man", "A woman", "A child", "Two dogs", "A group of people", "An old man", "A girl"]
# (specific activity in the premise, what it entails in general terms)
_ACTIVITIES = [
    ("playing a guitar", "playing music"),
    ("running along the beach", "moving outside"),
    ("eating a sandwich", "eating food"),
    ("sitting on a bench", "sitting down"),
    ("riding a red bicycle", "riding something"),
    ("kicking a soccer ball", "playing with a ball"),
]
_PLACES = ["in the park", "on a busy street", "near the river", "in front of a house", "at the market"]
_NEUTRAL_DETAILS = [
    "for a competition",
    "with their best friend",
    "after a long day at work",
    "to win a prize",
]
_CONTRADICTIONS = [
    "is sleeping in a bed",
    "is swimming in the ocean",
    "is driving a truck",
    "is asleep indoors",
]


def _entailment(request: _Request) -> list[Path]:
    rng = request.rng

    def pick(options: list) -> object:
        return options[int(rng.integers(len(options)))]

    rows = []
    for label in ("entailment", "neutral", "contradiction"):
        for _ in range(request.n_per_class):
            subject, (activity, general), place = pick(_SUBJECTS), pick(_ACTIVITIES), pick(_PLACES)
            verb = "are" if subject.startswith(("Two", "A group")) else "is"
            premise = f"{subject} {verb} {activity} {place}."
            if label == "entailment":
                hypothesis = f"{subject} {verb} {general}."
            elif label == "neutral":
                hypothesis = f"{subject} {verb} {general} {pick(_NEUTRAL_DETAILS)}."
            else:
                hypothesis = f"{subject} {pick(_CONTRADICTIONS).replace('is ', verb + ' ', 1)}."
            rows.append({"sentence1": premise, "sentence2": hypothesis, "gold_label": label})
    for _ in range(max(1, request.n_per_class // 10)):
        subject, (activity, general), place = pick(_SUBJECTS), pick(_ACTIVITIES), pick(_PLACES)
        rows.append({"sentence1": f"{subject} {activity} {place}.", "sentence2": general, "gold_label": "-"})
    path = request.directory / "snli.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for index, position in enumerate(rng.permutation(len(rows))):
            row = rows[position]
            # SNLI's own row shape, so the loader sees the extra fields it must ignore.
            labels = (
                [row["gold_label"]] * 3
                if row["gold_label"] != "-"
                else ["neutral", "entailment", "contradiction"]
            )
            handle.write(json.dumps({"annotator_labels": labels, "pairID": f"syn{index}", **row}) + "\n")
    return [path]


_SPECIALTY_KEYWORDS = {
    "Cardiovascular / Pulmonary": ["chest pain", "echocardiogram", "coronary artery", "dyspnea", "stent"],
    "Orthopedic": ["fracture", "knee", "arthroscopy", "tendon", "lumbar spine"],
    "Neurology": ["seizure", "headache", "MRI of the brain", "neuropathy", "stroke"],
    "Gastroenterology": ["colonoscopy", "abdominal pain", "endoscopy", "polyp", "reflux"],
    "Urology": ["prostate", "cystoscopy", "kidney stone", "hematuria", "bladder"],
}
# Fewer rows than the preset's min_class_count: these merge into "Other".
_RARE_SPECIALTIES = {
    "Dentistry": ["tooth extraction", "molar", "gingiva"],
    "Allergy / Immunology": ["allergic rhinitis", "skin prick test", "anaphylaxis"],
}
_FILLER_TEXT = (
    "the patient is a year old who presents today for evaluation . history of present illness was "
    "reviewed and vital signs are stable . the plan was discussed with the patient who agrees . no "
    "known drug allergies . social history is noncontributory . follow up in two weeks"
)
_FILLER = _FILLER_TEXT.split()


def _medical(request: _Request) -> list[Path]:
    rng = request.rng
    min_count = get_preset("medical-specialty").min_class_count or 2
    rare_rows = max(1, min(request.n_per_class, min_count) // 5)
    rows = []
    for specialties, count in ((_SPECIALTY_KEYWORDS, request.n_per_class), (_RARE_SPECIALTIES, rare_rows)):
        for specialty, keywords in specialties.items():
            for length in _lengths(request, (40, 200), count):
                words = list(rng.choice(_FILLER, size=int(length)))
                for keyword in rng.choice(keywords, size=4):
                    words.insert(int(rng.integers(len(words) + 1)), str(keyword))
                rows.append((specialty, " ".join(words)))
    rows.append((next(iter(_SPECIALTY_KEYWORDS)), ""))  # MTSamples has notes with no transcription
    path = request.directory / "mtsamples.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        # MTSamples' header, leading unnamed index column and the space before each specialty included.
        writer.writerow(["", "description", "medical_specialty", "sample_name", "transcription", "keywords"])
        for index, position in enumerate(rng.permutation(len(rows))):
            specialty, note = rows[position]
            writer.writerow([index, f"note {index}", f" {specialty}", f"Sample {index}", note, ""])
    return [path]


_GENERATORS: dict[str, Callable[[_Request], list[Path]]] = {
    "circrna": _circrna,
    "protein-localization": _protein,
    "aptamer-pairs": _aptamer,
    "entailment": _entailment,
    "medical-specialty": _medical,
}
