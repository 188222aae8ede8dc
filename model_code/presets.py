"""The reference workloads as data: one frozen ``Preset`` per job, looked up by name.

A preset says which tokenizer and model to build, which labels to predict, how long an input may be,
how its data files look and how to train by default. Nothing else in ``model_code`` branches on a
preset's name: loaders, factory and trainer read these fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

# The model field names this instead of a Hub id when the model is trained from scratch.
KMER_TRANSFORMER = "kmer-transformer"

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
# ProtBert's vocabulary also has X (unknown) and the rare/ambiguous U, Z, O, B, which it reads as X.
PROTEIN_ALPHABET = AMINO_ACIDS + "XUZOB"
DNA_ALPHABET = "ACGT"
# IUPAC ambiguity codes occur in real circRNA/lncRNA exports; the k-mer tokenizer reads them as [UNK].
NUCLEOTIDE_ALPHABET = "ACGTUNRYKMSWBDHV"


class TokenizerKind(StrEnum):
    KMER = "kmer"  # model_code.tokenization.nucleotide.NucleotideKmerTokenizer, built from KmerSettings
    PROTEIN = "protein"  # model_code.tokenization.protein.ProteinBertTokenizer over the backbone's vocab
    AUTO = "auto"  # the backbone's own AutoTokenizer


class DataFormat(StrEnum):
    CLASS_PER_FILE = "class-per-file"  # one file per class, one sequence a line or FASTA
    DEEPLOC_FASTA = "deeploc-fasta"  # ">ID Location-M [test]" headers
    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True, kw_only=True)
class Columns:
    """Where a CSV/JSONL row keeps the input(s) and the label."""

    text: str
    label: str
    text_pair: str | None = None


class SplitGroups(StrEnum):
    """What examples in one split must not share with another split."""

    NONE = "none"  # nothing: stratified by label
    SEQUENCES = "sequences"  # any sequence, text or text_pair (pairs of sequences)
    PREMISE = "premise"  # the text (pairs of sentences: hypotheses about one premise)


@dataclass(frozen=True, kw_only=True)
class KmerSettings:
    """Tokenizer and architecture of the k-mer transformer trained from scratch (the fields of
    NucleotideKmerTokenizer and KmerTransformerConfig of the same names)."""

    k: int
    stride: int
    composition_k: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    conv_kernel_size: int
    composition_hidden_size: int
    # Width of the reading-frame statistics branch (0: the model does not read them) and of the hidden
    # layer of the classification head over all branches (0: a linear head).
    statistics_hidden_size: int
    head_hidden_size: int
    hidden_dropout_prob: float
    classifier_dropout: float


def normalise_input(text: str, *, sequence: bool) -> str:
    """The one form of an input text that training learns from and serving scores.

    A sequence (a preset with an alphabet) loses all whitespace, wherever it is, and is upper-cased:
    ``"acgt ACGT\n"`` is ``"ACGTACGT"``. A tokenizer over letters (ALBERT's on aptamers) would read a
    space inside a sequence as a word boundary, so the two would score differently. Free text loses only
    the whitespace around it.
    """
    return "".join(text.split()).upper() if sequence else text.strip()


@dataclass(frozen=True, kw_only=True)
class TrainingDefaults:
    """Hyperparameters a training run uses unless the deployment overrides them."""

    epochs: float
    learning_rate: float
    batch_size: int
    weight_decay: float
    warmup_ratio: float
    validation_fraction: float = 0.1
    # Held out for evaluation.json when the job has no test data of its own.
    test_fraction: float = 0.1
    seed: int = 42
    # "auto": bf16 on GPUs that have it, else fp16 on GPUs, else full precision (always on CPUs). Every
    # preset's default: on a GPU, mixed precision roughly halves activation memory and speeds up the
    # matrix products the tensor cores run, and the reference notebooks fine-tune with it.
    mixed_precision: str = "auto"
    gradient_checkpointing: bool = False


@dataclass(frozen=True, kw_only=True)
class Preset:
    name: str
    description: str
    tokenizer: TokenizerKind
    model: str  # a Hub id (or local path) of the backbone, or KMER_TRANSFORMER
    max_length: int  # tokens per input (per pair for pair presets), the window the tokenizer applies
    pair: bool
    data_format: DataFormat
    training: TrainingDefaults
    labels: tuple[str, ...] | None = None  # fixed label set; None: the labels seen in the data
    kmer: KmerSettings | None = None
    columns: Columns | None = None  # for CSV and JSONL
    alphabet: str | None = None  # letters a sequence may hold (upper case); None for free text
    skip_labels: tuple[str, ...] = ()  # label values whose rows are dropped (counted and logged)
    skip_blank_text: bool = False  # drop rows whose input is empty instead of failing
    class_weighting: bool = False
    min_class_count: int | None = None  # labels seen fewer times in training data become other_label
    other_label: str = "Other"
    # What keeps examples together in one split (model_code.data.splits.split_examples).
    split_groups: SplitGroups = SplitGroups.NONE
    # The backbone's position limit (its config's max_position_embeddings, known without downloading
    # it); max_length may not exceed it. None for the k-mer model, whose positions are sized from it.
    position_limit: int | None = None

    def normalise_input(self, text: str) -> str:
        """This preset's form of an input text (:func:`normalise_input`), for training and serving alike."""
        return normalise_input(text, sequence=self.alphabet is not None)

    def __post_init__(self) -> None:
        if (self.model == KMER_TRANSFORMER) != (self.kmer is not None):
            raise ValueError(f"preset {self.name!r}: kmer settings go with model {KMER_TRANSFORMER!r} only")
        if (self.tokenizer is TokenizerKind.KMER) != (self.kmer is not None):
            raise ValueError(f"preset {self.name!r}: the kmer tokenizer needs kmer settings and vice versa")
        if (self.data_format in (DataFormat.CSV, DataFormat.JSONL)) != (self.columns is not None):
            raise ValueError(f"preset {self.name!r}: a column mapping goes with CSV and JSONL data only")
        if self.columns is not None and self.pair != (self.columns.text_pair is not None):
            raise ValueError(f"preset {self.name!r}: a pair preset needs a text_pair column and vice versa")
        if self.labels is not None and self.min_class_count is not None:
            raise ValueError(f"preset {self.name!r}: rare labels are merged only when labels come from data")
        if self.min_class_count is not None and self.min_class_count < 1:
            raise ValueError(f"preset {self.name!r}: min_class_count must be at least 1")
        if self.max_length < 8:
            raise ValueError(f"preset {self.name!r}: max_length must be at least 8 tokens")
        if self.position_limit is not None and self.max_length > self.position_limit:
            raise ValueError(
                f"max_length {self.max_length} exceeds the {self.position_limit} positions of "
                f"{self.model} (preset {self.name!r})"
            )


_PRESETS = (
    Preset(
        name="circrna",
        description="circRNA vs lncRNA from one DNA/RNA sequence, k-mer transformer trained from scratch",
        tokenizer=TokenizerKind.KMER,
        model=KMER_TRANSFORMER,
        # Chosen by 5-fold stratified cross-validation of model_code.train on the real circRNA/lncRNA
        # data (bench/circrna_cv.py; figures and the ablation in the README's "Measured"): the
        # reading-frame statistics branch and the MLP head over all branches are what lifted it.
        kmer=KmerSettings(
            k=3,
            stride=1,
            composition_k=4,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            conv_kernel_size=9,
            composition_hidden_size=128,
            statistics_hidden_size=32,
            head_hidden_size=64,
            hidden_dropout_prob=0.1,
            classifier_dropout=0.2,
        ),
        max_length=131,
        pair=False,
        labels=("circRNA", "lncRNA"),
        data_format=DataFormat.CLASS_PER_FILE,
        alphabet=NUCLEOTIDE_ALPHABET,
        training=TrainingDefaults(
            epochs=4, learning_rate=1e-3, batch_size=32, weight_decay=0.01, warmup_ratio=0.1
        ),
    ),
    Preset(
        name="protein-localization",
        description="subcellular location (10 DeepLoc compartments) of a protein, ProtBert fine-tuned",
        tokenizer=TokenizerKind.PROTEIN,
        model="Rostlab/prot_bert",
        max_length=1024,
        position_limit=40000,
        pair=False,
        labels=(
            "Cell.membrane",
            "Cytoplasm",
            "Endoplasmic.reticulum",
            "Extracellular",
            "Golgi.apparatus",
            "Lysosome/Vacuole",
            "Mitochondrion",
            "Nucleus",
            "Peroxisome",
            "Plastid",
        ),
        data_format=DataFormat.DEEPLOC_FASTA,
        alphabet=PROTEIN_ALPHABET,
        # ProtBert is BERT with 30 layers of width 1024 (about 420M parameters). Fine-tuned with AdamW,
        # weights, gradients and the two moments are 16 bytes a parameter in fp32 whatever the
        # precision of the activations: the activations of 8 sequences of 1024 tokens through 30 layers
        # are what would not fit a 16-24 GB GPU. Gradient checkpointing keeps one tensor per layer and
        # recomputes the rest in the backward pass; mixed precision halves what remains. "auto" uses
        # bf16 where the GPU has it (A10G, ml.g5) and fp16 where it has not (T4, ml.g4dn). Not measured
        # here (no GPU): if a GPU still runs out of memory, lower batch_size and raise
        # gradient_accumulation_steps by the same factor.
        training=TrainingDefaults(
            epochs=3,
            learning_rate=2e-5,
            batch_size=8,
            weight_decay=0.01,
            warmup_ratio=0.1,
            mixed_precision="auto",
            gradient_checkpointing=True,
        ),
    ),
    Preset(
        name="aptamer-pairs",
        description="whether aptamer Sequence1 is fitter than Sequence2 (0/1), ALBERT fine-tuned",
        tokenizer=TokenizerKind.AUTO,
        model="albert-base-v2",
        max_length=256,
        position_limit=512,
        pair=True,
        # Pairs sharing a sequence stay in one split, so no sequence is both trained and validated on.
        split_groups=SplitGroups.SEQUENCES,
        labels=("0", "1"),
        data_format=DataFormat.CSV,
        columns=Columns(text="Sequence1", text_pair="Sequence2", label="Label"),
        alphabet=DNA_ALPHABET,
        training=TrainingDefaults(
            epochs=3, learning_rate=3e-5, batch_size=32, weight_decay=0.01, warmup_ratio=0.1
        ),
    ),
    Preset(
        name="entailment",
        description="entailment, neutral or contradiction of a premise/hypothesis pair, BERT fine-tuned",
        tokenizer=TokenizerKind.AUTO,
        model="bert-base-uncased",
        max_length=128,
        position_limit=512,
        pair=True,
        labels=("entailment", "neutral", "contradiction"),
        data_format=DataFormat.JSONL,
        columns=Columns(text="sentence1", text_pair="sentence2", label="gold_label"),
        # SNLI writes "-" when its annotators reached no consensus: such rows have no label to learn.
        skip_labels=("-",),
        # SNLI writes several hypotheses per premise: a premise seen in training would leak its pairs'
        # answers into validation and test, so all pairs of a premise stay in one split.
        split_groups=SplitGroups.PREMISE,
        training=TrainingDefaults(
            epochs=2, learning_rate=2e-5, batch_size=32, weight_decay=0.01, warmup_ratio=0.1
        ),
    ),
    Preset(
        name="medical-specialty",
        description="medical specialty of a clinical note, DistilBERT fine-tuned with class-weighted loss",
        tokenizer=TokenizerKind.AUTO,
        model="distilbert-base-uncased",
        max_length=512,
        position_limit=512,
        pair=False,
        data_format=DataFormat.CSV,
        columns=Columns(text="transcription", label="medical_specialty"),
        # MTSamples has a few dozen rows with no transcription; they carry nothing to learn from.
        skip_blank_text=True,
        class_weighting=True,
        min_class_count=50,
        # The reference notebook's settings (10 epochs, batch 64, learning rate 3e-5); nothing measured
        # here says otherwise (no GPU, no Hub: DistilBERT cannot be fine-tuned on MTSamples here). The
        # best epoch by macro F1 is the one kept, so epochs past the best one cost time, not quality.
        training=TrainingDefaults(
            epochs=10, learning_rate=3e-5, batch_size=64, weight_decay=0.01, warmup_ratio=0.1
        ),
    ),
)

PRESETS: Mapping[str, Preset] = MappingProxyType({preset.name: preset for preset in _PRESETS})


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}") from None
