"""The job runner Lambda: runs queued predictions from the jobs queue once their endpoint is in service."""
