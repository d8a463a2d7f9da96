"""Pretraining Bio-BLIP: the gene split, training examples and the training loop."""
