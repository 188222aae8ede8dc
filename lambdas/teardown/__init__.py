"""The endpoint teardown custom resource: on stack delete, no endpoint of this deployment is left."""
