"""The seqserve CDK app: stacks compose the constructs defined one capability per module."""
