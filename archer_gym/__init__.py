"""archer-gym: a Gymnasium suite of multi-turn text games for language-model agents.

``import archer_gym`` registers every env under the namespace ``archer``::

    import gymnasium as gym, archer_gym
    env = gym.make("archer/TwentyQuestions-v0")
    obs, info = env.reset(seed=0)
"""

from archer_gym.chat import chat_messages
from archer_gym.env import CHARSET, MAX_ACTION_LENGTH, MAX_OBSERVATION_LENGTH, StepResult, TextGameEnv
from archer_gym.oracles import KnowledgeBaseOracle, Oracle, OracleRequest
from archer_gym.records import Episode, Transition, read_jsonl, write_jsonl
from archer_gym.registry import SPECS, TaskSpec, get_spec, list_ids, reference, references, register_task
from archer_gym.vector import TextVectorEnv, make_vec

__version__ = "0.1.0"

__all__ = [
    "chat_messages", "CHARSET", "MAX_ACTION_LENGTH", "MAX_OBSERVATION_LENGTH", "StepResult", "TextGameEnv",
    "KnowledgeBaseOracle", "Oracle", "OracleRequest", "Episode", "Transition", "read_jsonl", "write_jsonl",
    "SPECS", "TaskSpec", "get_spec", "list_ids", "reference", "references", "register_task", "TextVectorEnv", "make_vec",
]
