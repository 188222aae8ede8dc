"""Training support: hyperparameters, metrics and plots (the entry point is ``model_code/train.py``)."""
