"""Twenty Questions on LMRL-Gym's word list: ``archer/TwentyQuestions-v0`` and ``archer/TwentyQuestionsSubset-v0``.

Data: ``words.json`` (words, variants, categories, subset), ``knowledge.json`` (attributes, their
phrasings and keywords, and one yes/no fact per word and attribute). ``questions.py`` reads questions,
``env.py`` is the env, ``policies.py`` the scripted expert / noisy / random askers.
"""

from tasks.twenty_questions.env import TwentyQuestionsEnv
from tasks.twenty_questions.policies import POLICIES, make_policy
from tasks.twenty_questions.questions import KnowledgeBase, load_knowledge

__all__ = ["TwentyQuestionsEnv", "POLICIES", "make_policy", "KnowledgeBase", "load_knowledge"]
