"""The k-mer transformer's configuration, registered with AutoConfig, importing no torch.

Apart from ``modeling_kmer`` so that the tokenizer (which registers itself against this config) and the
ONNX Runtime serving path load without torch; ``modeling_kmer`` re-exports it.
"""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig


class KmerTransformerConfig(PretrainedConfig):
    model_type = "kmer_transformer"

    def __init__(
        self,
        *,
        vocab_size: int = 69,
        k: int = 3,
        hidden_size: int = 64,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 4,
        intermediate_size: int = 128,
        conv_kernel_size: int = 9,
        max_position_embeddings: int = 512,
        composition_size: int = 256,
        composition_hidden_size: int = 128,
        statistics_size: int = 0,
        statistics_hidden_size: int = 32,
        head_hidden_size: int = 0,
        hidden_dropout_prob: float = 0.1,
        classifier_dropout: float = 0.2,
        class_weights: list[float] | None = None,
        pad_token_id: int = 0,
        **kwargs,
    ) -> None:
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be a multiple of "
                f"num_attention_heads ({num_attention_heads})"
            )
        if conv_kernel_size < 1 or conv_kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size must be a positive odd number, got {conv_kernel_size}")
        self.vocab_size = vocab_size
        self.k = k
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.conv_kernel_size = conv_kernel_size
        self.max_position_embeddings = max_position_embeddings
        self.composition_size = composition_size
        self.composition_hidden_size = composition_hidden_size
        self.statistics_size = statistics_size
        self.statistics_hidden_size = statistics_hidden_size
        self.head_hidden_size = head_hidden_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.classifier_dropout = classifier_dropout
        self.class_weights = list(class_weights) if class_weights is not None else None
        super().__init__(pad_token_id=pad_token_id, **kwargs)


AutoConfig.register(KmerTransformerConfig.model_type, KmerTransformerConfig)
