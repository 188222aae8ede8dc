"""The embedded local stack: moto for AWS, a local sagemaker-runtime, a local REST API and the idle timer.

Importing this package stays light (no torch, no moto): the Lambda worker processes import
``local.lambda_pool`` and must start as fast as a Lambda cold start.
"""
