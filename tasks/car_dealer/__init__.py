"""archer/CarDealer-v0: LMRL-Gym's Car Dealer with a scripted, seeded buyer, or an LLM playing it.

``buyer`` holds the buyer profiles and the buyer's script; ``llm_buyer`` the LLM buyer's persona and the env's
verdict on its replies; ``env`` the Gymnasium env; ``policies`` the scripted ``expert`` and ``random`` sellers.
"""

from tasks.car_dealer.buyer import Buyer, Profile, parse_price, profile_names
from tasks.car_dealer.env import CarDealerEnv
from tasks.car_dealer.policies import POLICIES, make_policy

__all__ = ["Buyer", "Profile", "parse_price", "profile_names", "CarDealerEnv", "POLICIES", "make_policy"]
