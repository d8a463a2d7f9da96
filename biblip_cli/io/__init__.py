"""Input and output: VCF reading and writing, resumable outputs, the data-file readers, small text files."""
