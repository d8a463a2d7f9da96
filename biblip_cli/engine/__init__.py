"""Loading and running the model for the commands (torch imported only here and below)."""
