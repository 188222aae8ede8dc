from __future__ import annotations

import random

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer
from transformers.modeling_outputs import SequenceClassifierOutput

from model_code.modeling.kmer import (
    KmerTransformerConfig,
    KmerTransformerForSequenceClassification,
    KmerTransformerModel,
    segment_positions,
)
from model_code.tokenization.kmer_windows import STATISTICS_SIZE
from model_code.tokenization.nucleotide import NucleotideKmerTokenizer


def tiny_config(tokenizer: NucleotideKmerTokenizer, **overrides) -> KmerTransformerConfig:
    values = {
        "vocab_size": tokenizer.vocab_size,
        "k": tokenizer.k,
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "conv_kernel_size": 5,
        "max_position_embeddings": 64,
        "composition_size": 4**tokenizer.composition_k,
        "composition_hidden_size": 8,
        "statistics_size": STATISTICS_SIZE,
        "statistics_hidden_size": 4,
        "num_labels": 2,
        "id2label": {0: "circRNA", 1: "lncRNA"},
        "label2id": {"circRNA": 0, "lncRNA": 1},
    }
    values.update(overrides)
    return KmerTransformerConfig(**values)


@pytest.fixture
def tokenizer() -> NucleotideKmerTokenizer:
    return NucleotideKmerTokenizer(k=3, stride=1, max_length=41, composition_k=2)


@pytest.fixture
def model(tokenizer: NucleotideKmerTokenizer) -> KmerTransformerForSequenceClassification:
    torch.manual_seed(0)
    return KmerTransformerForSequenceClassification(tiny_config(tokenizer)).eval()


def random_sequence(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def test_tokenizer_output_feeds_the_model(tokenizer, model) -> None:
    batch = tokenizer(["ACGT" * 30, "GGCAT"], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch)
    assert isinstance(out, SequenceClassifierOutput)
    assert out.logits.shape == (2, 2)
    assert out.loss is None


def test_scores_do_not_depend_on_batch_composition(tokenizer, model) -> None:
    rng = random.Random(1)
    texts = [random_sequence(rng, n) for n in (7, 25, 300, 12, 60)]
    with torch.no_grad():
        together = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
        alone = torch.cat([model(**tokenizer([t], padding=True, return_tensors="pt")).logits for t in texts])
        reordered = model(**tokenizer(texts[::-1], padding=True, return_tensors="pt")).logits.flip(0)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together, reordered, atol=1e-5, rtol=1e-5)


def test_padded_positions_are_masked(tokenizer, model) -> None:
    batch = tokenizer(["ACGTAC", "ACGT" * 20], padding=True, return_tensors="pt")
    changed = {key: value.clone() for key, value in batch.items()}
    padding = batch["attention_mask"] == 0
    changed["input_ids"][padding] = tokenizer.get_vocab()["GGG"]
    changed["token_type_ids"][padding] = 1
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, model(**changed).logits, atol=1e-6, rtol=1e-6)


def test_tail_positions_count_from_the_three_prime_end() -> None:
    token_type_ids = torch.tensor([[0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1, 1]])
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    positions = segment_positions(token_type_ids, attention_mask)
    assert positions.tolist() == [[0, 1, 2, 1, 0, 0, 0], [0, 1, 2, 3, 2, 1, 0]]


def test_loss_and_class_weights(tokenizer) -> None:
    torch.manual_seed(0)
    batch = tokenizer(["ACGT" * 10, "TTGCA" * 3, "GATTACA"], padding=True, return_tensors="pt")
    labels = torch.tensor([0, 1, 1])
    plain = KmerTransformerForSequenceClassification(tiny_config(tokenizer)).eval()
    weighted = KmerTransformerForSequenceClassification(
        tiny_config(tokenizer, class_weights=[3.0, 0.5])
    ).eval()
    weighted.load_state_dict(plain.state_dict())
    with torch.no_grad():
        out = plain(**batch, labels=labels)
        out_weighted = weighted(**batch, labels=labels)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))
    expected = torch.nn.functional.cross_entropy(out.logits, labels, weight=torch.tensor([3.0, 0.5]))
    torch.testing.assert_close(out_weighted.loss, expected)
    assert not torch.isclose(out.loss, out_weighted.loss)


def test_class_weights_must_match_labels(tokenizer) -> None:
    model = KmerTransformerForSequenceClassification(tiny_config(tokenizer, class_weights=[1.0, 2.0, 3.0]))
    batch = tokenizer(["ACGTACGT"], return_tensors="pt")
    with pytest.raises(ValueError, match="class_weights has 3 entries for 2 labels"):
        model(**batch, labels=torch.tensor([0]))


def test_bad_config_and_missing_composition_are_value_errors(tokenizer, model) -> None:
    with pytest.raises(ValueError, match="multiple of"):
        tiny_config(tokenizer, hidden_size=15)
    with pytest.raises(ValueError, match="conv_kernel_size"):
        tiny_config(tokenizer, conv_kernel_size=4)
    batch = tokenizer(["ACGTACGT"], return_tensors="pt")
    batch.pop("composition")
    with pytest.raises(ValueError, match="composition is required"):
        model(**batch)
    batch = tokenizer(["ACGTACGT"], return_tensors="pt")
    batch.pop("statistics")
    with pytest.raises(ValueError, match="statistics is required"):
        model(**batch)


@pytest.mark.parametrize(
    ("overrides", "pooled"),
    [
        ({}, 2 * 16 + 8 + 4),
        ({"head_hidden_size": 6}, 2 * 16 + 8 + 4),
        ({"statistics_size": 0}, 2 * 16 + 8),
    ],
)
def test_branch_and_head_shapes(tokenizer, overrides, pooled) -> None:
    torch.manual_seed(0)
    model = KmerTransformerForSequenceClassification(tiny_config(tokenizer, **overrides)).eval()
    batch = tokenizer(["ACGT" * 30, "GGCAT", "ATGAAATAG"], padding=True, return_tensors="pt")
    assert tuple(batch["statistics"].shape) == (3, STATISTICS_SIZE)
    with torch.no_grad():
        assert tuple(model.kmer(**batch).shape) == (3, pooled)
        assert tuple(model(**batch).logits.shape) == (3, 2)
    layers = [m for m in model.classifier.modules() if isinstance(m, torch.nn.Linear)]
    assert layers[0].in_features == pooled
    assert len(layers) == (2 if overrides.get("head_hidden_size") else 1)


def test_a_model_without_the_statistics_branch_ignores_them(tokenizer) -> None:
    torch.manual_seed(0)
    model = KmerTransformerForSequenceClassification(tiny_config(tokenizer, statistics_size=0)).eval()
    assert model.kmer.statistics_branch is None
    batch = tokenizer(["ACGTACGTTAGC"], return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).logits
        batch.pop("statistics")
        torch.testing.assert_close(model(**batch).logits, expected)


@pytest.mark.parametrize("head_hidden_size", [0, 6])
def test_scores_follow_the_statistics_and_not_the_batch(tokenizer, head_hidden_size) -> None:
    torch.manual_seed(0)
    model = KmerTransformerForSequenceClassification(
        tiny_config(tokenizer, head_hidden_size=head_hidden_size)
    ).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(std=0.3)
    rng = random.Random(2)
    texts = [random_sequence(rng, n) for n in (9, 40, 500, 75)]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        together = model(**batch).logits
        alone = torch.cat([model(**tokenizer([t], return_tensors="pt")).logits for t in texts])
        torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
        # The branch reads the statistics: other statistics, other scores.
        changed = dict(batch, statistics=batch["statistics"].flip(0))
        moved = (model(**changed).logits - together).abs().amax(dim=1)
    assert bool((moved > 1e-4).all())


@pytest.mark.parametrize("torch_has_is_exporting", [True, False])
def test_window_longer_than_position_table_is_value_error(
    tokenizer, model, monkeypatch, torch_has_is_exporting
) -> None:
    if not torch_has_is_exporting:  # as in PyTorch 2.6, the SageMaker training images' version
        monkeypatch.delattr(torch.compiler, "is_exporting")
    batch = tokenizer(["ACGT" * 100], max_length=201, return_tensors="pt")
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(**batch)


def test_saved_model_reloads_through_auto_classes_as_safetensors(tmp_path, tokenizer, model) -> None:
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin"))
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, KmerTransformerConfig)
    assert config.id2label == {0: "circRNA", 1: "lncRNA"}
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, KmerTransformerForSequenceClassification)
    assert isinstance(AutoModel.from_config(config), KmerTransformerModel)
    loaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    texts = ["ACGTNNACGT" * 7, "ccgguua"]
    with torch.no_grad():
        expected = model(**tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits
        got = loaded(**loaded_tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits
    torch.testing.assert_close(got, expected)


@pytest.fixture
def one_thread():
    # Tiny tensors: a second thread only adds synchronisation, which on a shared CPU costs 100x.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_tiny_model_learns_a_planted_end_motif() -> None:
    # The motif sits near the 5' end of class-1 sequences and in the middle of class-0 ones, so the
    # whole-sequence composition is the same for both: only the windowed ends can tell them apart.
    torch.manual_seed(0)
    rng = random.Random(0)
    motif = "GAATTCGC"

    def sample(label: int) -> str:
        body = random_sequence(rng, rng.randint(40, 80))
        cut = rng.randint(0, 6) if label else len(body) // 2
        return body[:cut] + motif + body[cut:]

    labels = [i % 2 for i in range(256)]
    texts = [sample(label) for label in labels]
    tokenizer = NucleotideKmerTokenizer(k=3, stride=1, max_length=27, composition_k=2)
    model = KmerTransformerForSequenceClassification(tiny_config(tokenizer))
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    y = torch.tensor(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(10):
        for start in range(0, 192, 32):
            rows = slice(start, start + 32)
            loss = model(**{k: v[rows] for k, v in encoded.items()}, labels=y[rows]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(**{k: v[192:] for k, v in encoded.items()}).logits.argmax(-1)
    accuracy = (predicted == y[192:]).float().mean().item()
    assert accuracy >= 0.9


def test_left_padding_scores_like_right_padding(tokenizer, model) -> None:
    texts = ["ACGTAC", "ACGT" * 20, "TTGACCA" * 3]
    right = tokenizer(texts, padding=True, return_tensors="pt")
    left = tokenizer(texts, padding=True, padding_side="left", return_tensors="pt")
    assert left["attention_mask"][0, 0] == 0
    with torch.no_grad():
        torch.testing.assert_close(model(**left).logits, model(**right).logits, atol=1e-5, rtol=1e-5)
