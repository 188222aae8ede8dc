"""Deletes a model's pipeline-created SageMaker models and endpoint configurations beyond the newest N."""
