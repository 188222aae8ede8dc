"""The invoker Lambda: the REST API in front of the models' SageMaker endpoints."""
