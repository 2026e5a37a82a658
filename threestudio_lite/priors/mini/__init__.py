"""The embedded mini priors: small diffusers models trained on the procedural world by ``train-prior``."""
