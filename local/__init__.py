"""The embedded local stack: moto for AWS, a local sagemaker-runtime, a local REST API and the idle timer.

Importing this package stays light (no torch, no moto): the Lambda worker processes run
``local.lambda_worker`` and must start as fast as a Lambda cold start.
"""
