"""latentq: a job-queue training system for autoencoders, VAEs and GANs."""

__version__ = "0.1.0"
