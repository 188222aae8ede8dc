"""seqserve model code: tokenizers, models, presets, training and inference for SageMaker."""
