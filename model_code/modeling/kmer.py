"""k-mer transformer sequence classifier for nucleotide presets (config + model, registered with Auto*).

Inputs are what ``NucleotideKmerTokenizer`` emits: ``[CLS] head [SEP] tail [SEP]`` k-mer ids, a
``token_type_ids`` segment mark (0 head, 1 tail), the padding ``attention_mask`` and a whole-sequence
k-mer ``composition`` vector. Head positions count from the 5' end and tail positions from the 3' end,
so a given nucleotide near an end has the same position whatever the sequence length. A convolutional
stem sees local motifs (splice-site-like signals) before the attention layers; the pooled ends and the
composition branch are concatenated for the classifier.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModel, AutoModelForSequenceClassification, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from model_code.modeling.kmer_config import KmerTransformerConfig


def _exporting() -> bool:
    """Whether torch.export is tracing this call. ``torch.compiler.is_exporting`` is documented from
    PyTorch 2.7 on, and the SageMaker training images the CDK app picks carry 2.6; without it,
    ``is_compiling`` (true under export as well as under torch.compile) stands in."""
    is_exporting = getattr(torch.compiler, "is_exporting", None)
    return is_exporting() if is_exporting is not None else torch.compiler.is_compiling()


__all__ = ["KmerTransformerConfig", "KmerTransformerForSequenceClassification", "KmerTransformerModel"]


def segment_positions(token_type_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Head tokens count up from the start, tail tokens count up from the end of the real tokens."""
    real = attention_mask.bool()
    tail = (token_type_ids == 1) & real
    head = (token_type_ids == 0) & real
    head_pos = torch.cumsum(head.long(), dim=1) - 1
    tail_index = torch.cumsum(tail.long(), dim=1) - 1
    tail_pos = tail.long().sum(dim=1, keepdim=True) - 1 - tail_index
    positions = torch.where(tail, tail_pos, head_pos)
    return torch.where(real, positions, torch.zeros_like(positions))


class KmerTransformerPreTrainedModel(PreTrainedModel):
    config_class = KmerTransformerConfig
    base_model_prefix = "kmer"
    main_input_name = "input_ids"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class KmerTransformerModel(KmerTransformerPreTrainedModel):
    """Encoder: embeddings + conv stem + transformer over both ends; returns pooled ends + composition."""

    def __init__(self, config: KmerTransformerConfig) -> None:
        super().__init__(config)
        h = config.hidden_size
        self.token_embeddings = nn.Embedding(config.vocab_size, h, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, h)
        self.segment_embeddings = nn.Embedding(2, h)
        self.embedding_norm = nn.LayerNorm(h)
        self.conv = nn.Conv1d(h, h, config.conv_kernel_size, padding=config.conv_kernel_size // 2)
        self.conv_norm = nn.LayerNorm(h)
        layer = nn.TransformerEncoderLayer(
            d_model=h,
            nhead=config.num_attention_heads,
            dim_feedforward=config.intermediate_size,
            dropout=config.hidden_dropout_prob,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_hidden_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(h)
        self.composition_branch = nn.Sequential(
            nn.LayerNorm(config.composition_size),
            nn.Linear(config.composition_size, config.composition_hidden_size),
            nn.GELU(),
            nn.Dropout(config.hidden_dropout_prob),
        )
        self.statistics_branch = (
            nn.Sequential(
                nn.Linear(config.statistics_size, config.statistics_hidden_size),
                nn.GELU(),
                nn.Dropout(config.hidden_dropout_prob),
            )
            if config.statistics_size
            else None
        )
        self.post_init()

    @property
    def pooled_size(self) -> int:
        statistics = self.config.statistics_hidden_size if self.config.statistics_size else 0
        return 2 * self.config.hidden_size + self.config.composition_hidden_size + statistics

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        composition: torch.Tensor | None = None,
        statistics: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if composition is None:
            raise ValueError(
                "composition is required: encode inputs with NucleotideKmerTokenizer, which emits it"
            )
        if self.statistics_branch is not None and statistics is None:
            raise ValueError(
                "statistics is required: encode inputs with NucleotideKmerTokenizer, which emits it"
            )
        positions = segment_positions(token_type_ids, attention_mask)
        # torch.export (the ONNX exporter) cannot branch on a tensor value; the ONNX graph fails on an
        # out-of-range position index instead.
        if not _exporting() and int(positions.max()) >= self.config.max_position_embeddings:
            raise ValueError(
                f"an input has {int(positions.max()) + 1} tokens in one segment, more than "
                f"max_position_embeddings ({self.config.max_position_embeddings})"
            )
        real = attention_mask.unsqueeze(-1).to(torch.float32)
        x = self.token_embeddings(input_ids) + self.position_embeddings(positions)
        x = self.embedding_norm(x + self.segment_embeddings(token_type_ids.clamp(0, 1)))
        # Padding is zeroed before the convolution so a padded input convolves exactly as it would alone.
        x = x * real
        x = x + nn.functional.gelu(self.conv_norm(self.conv(x.transpose(1, 2)).transpose(1, 2)))
        x = self.encoder(x * real, src_key_padding_mask=~attention_mask.bool())
        x = self.final_norm(x)
        # [CLS] is the first real token, wherever the padding side put the padding.
        cls = x[torch.arange(x.shape[0], device=x.device), attention_mask.long().argmax(dim=1)]
        mean = (x * real).sum(dim=1) / real.sum(dim=1).clamp(min=1.0)
        comp = self.composition_branch(composition.to(x.dtype))
        parts = [cls, mean, comp]
        if self.statistics_branch is not None:
            parts.append(self.statistics_branch(statistics.to(x.dtype)))
        return torch.cat(parts, dim=-1)


class KmerTransformerForSequenceClassification(KmerTransformerPreTrainedModel):
    def __init__(self, config: KmerTransformerConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.kmer = KmerTransformerModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        if config.head_hidden_size:
            self.classifier = nn.Sequential(
                nn.Linear(self.kmer.pooled_size, config.head_hidden_size),
                nn.GELU(),
                nn.Dropout(config.classifier_dropout),
                nn.Linear(config.head_hidden_size, config.num_labels),
            )
        else:
            self.classifier = nn.Linear(self.kmer.pooled_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        composition: torch.Tensor | None = None,
        statistics: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        pooled = self.kmer(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            composition=composition,
            statistics=statistics,
        )
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            weight = None
            if self.config.class_weights is not None:
                if len(self.config.class_weights) != self.num_labels:
                    raise ValueError(
                        f"class_weights has {len(self.config.class_weights)} entries for "
                        f"{self.num_labels} labels"
                    )
                weight = torch.tensor(self.config.class_weights, dtype=logits.dtype, device=logits.device)
            loss = nn.functional.cross_entropy(logits, labels.view(-1), weight=weight)
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoModel.register(KmerTransformerConfig, KmerTransformerModel)
AutoModelForSequenceClassification.register(KmerTransformerConfig, KmerTransformerForSequenceClassification)
