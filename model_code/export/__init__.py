"""Exporting a trained model to ONNX, checked against torch."""
