"""embtune: Hydra-configured fine-tuning of sentence-embedding models with sentence-transformers."""

from embtune.config.resolvers import register_resolvers

__version__ = "0.1.0"

register_resolvers()
