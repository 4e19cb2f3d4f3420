"""Who answers the agent: the :class:`Oracle` protocol and its backends.

The knowledge-base oracle (deterministic, offline, free) is the default of every task. LLM backends
(a local Hugging Face model, any OpenAI-compatible endpoint) are chosen by env kwargs.
"""

from archer_gym.oracles.base import KnowledgeBaseOracle, Oracle, OracleRequest

__all__ = ["Oracle", "OracleRequest", "KnowledgeBaseOracle"]
