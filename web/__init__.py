"""latentq.web: the read-only pages over the run store and the artifact root (`latentq ui`)."""
