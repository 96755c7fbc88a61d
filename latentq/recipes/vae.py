"""Parameters of the VAE recipes."""
