"""Tokenizers: the k-mer and ProtBert ones transformers loads (training, torch serving), and the
standalone ones ONNX serving uses without transformers, built on the same windowing and residue rules."""
