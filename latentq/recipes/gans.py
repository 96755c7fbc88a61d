"""Parameters of the GAN recipes."""
