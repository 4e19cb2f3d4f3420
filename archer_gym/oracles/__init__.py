"""Who answers the agent: the :class:`Oracle` protocol and its backends.

The knowledge-base oracle (deterministic, offline, free) is the default of every task. LLM backends
(a local Hugging Face model, any OpenAI-compatible endpoint) are chosen by env kwargs.
"""

from archer_gym.oracles.base import KnowledgeBaseOracle, Oracle, OracleRequest


def __getattr__(name):
    # LLM backends import lazily: `import archer_gym` must stay fast and work without openai installed.
    if name in ("make_oracle", "env_oracle"):
        from archer_gym.oracles import factory
        return getattr(factory, name)
    if name in ("LLMOracle", "OracleError"):
        from archer_gym.oracles import llm
        return getattr(llm, name)
    raise AttributeError(name)


__all__ = ["Oracle", "OracleRequest", "KnowledgeBaseOracle", "make_oracle", "env_oracle", "LLMOracle", "OracleError"]
