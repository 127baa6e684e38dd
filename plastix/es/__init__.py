"""OpenAI Evolution Strategies: the pure core, a local (vmapped) and a Ray backend."""

from plastix.es.core import ESConfig, ESState, OpenAIES, params_hash

__all__ = ["ESConfig", "ESState", "OpenAIES", "params_hash"]
