"""Training and test data: reading each preset's formats, splitting, the label set, and generated data."""
