"""Turn annotated alleles into model inputs (four modalities)."""
