"""The models: the k-mer transformer (its config and classes) and the factory that builds any preset's
model and tokenizer for training."""
