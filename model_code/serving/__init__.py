"""Serving: request parsing and checks, the torch and ONNX predictors, and the BYOC model server.

The SageMaker handlers themselves are ``model_code/inference.py`` (the artifact's ``code/inference.py``)."""
