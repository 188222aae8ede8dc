"""The seqserve operator CLI (console script ``seqserve``)."""
