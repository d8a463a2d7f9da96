"""biblip: variant annotation and prioritisation with Bio-BLIP."""

__version__ = "0.1.0"
