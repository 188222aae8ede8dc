"""Code shared by the seqserve Lambdas: deployment settings, AWS clients, the state table, the lifecycle."""
