"""The Lambda-hosted model: model_code's ONNX predictor behind a synchronous invoke (issue 21)."""
