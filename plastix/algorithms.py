"""Every algorithm plastix trains, by name: its kind, its config and how its program is built.

``ALGORITHMS["ppo"].build(config, run, env, options)`` returns the training program the runner
drives (``plastix.training``); ``options`` are what the interventions need the networks built
with (``injection``, ``augment_pad``). Training, ``rerun``, ``resume``, ``load_policy`` and the
command line find an algorithm here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from plastix.agents import DQN, SAC, DrQEps, DrQV2
from plastix.errors import unknown
from plastix.es import OpenAIES
from plastix.onpolicy import PPO, REINFORCE, RecurrentPPO, StatefulPPO
from plastix.training import iterative, offpolicy
from plastix.training.program import Program


@dataclass(frozen=True)
class Algorithm:
    name: str
    kind: Literal["off-policy", "iterative"]
    """off-policy: a replay buffer and a replay ratio; iterative: learns in iterations."""
    Config: type
    make: Callable[..., Program]
    program: type[Program]
    summary: str
    fixed_budget: Callable[[object], str | None] = lambda config: None
    """why a run of this config cannot be resumed to a larger step budget (None: it can)."""

    def build(self, config, run, env, options: dict | None = None) -> Program:
        return self.make(config, run, env, dict(options or {}))

    @property
    def capabilities(self) -> frozenset[str]:
        """What its program offers the interventions."""
        return self.program.capabilities


def _off_policy(agent_cls):
    return lambda config, run, env, options: offpolicy.build(agent_cls, config, run, env, options)


def _sized_by_budget(config) -> str:
    return "an off-policy run's replay buffer and exploration schedule are sized by its step budget"


def _ppo_budget(config) -> str | None:
    if config.anneal_lr:
        return "PPO's learning rate anneals to 0 over the step budget (anneal_lr)"
    return None


def _ppo_family(method_cls, summary: str) -> Algorithm:
    """PPO and its variants: fixed-length iterations of ``epochs × minibatches`` updates."""
    return Algorithm(
        method_cls.name,
        "iterative",
        method_cls.Config,
        lambda c, r, e, o: iterative.build(
            method_cls, c, r, e, o, fixed=True, per_update=c.epochs * c.minibatches
        ),
        iterative.IterativeProgram,
        summary,
        _ppo_budget,
    )


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "dqn",
            "off-policy",
            DQN.Config,
            _off_policy(DQN),
            offpolicy.OffPolicyProgram,
            "DQN (double, n-step)",
            _sized_by_budget,
        ),
        Algorithm(
            "drq-eps",
            "off-policy",
            DrQEps.Config,
            _off_policy(DrQEps),
            offpolicy.OffPolicyProgram,
            "DrQ(ε): DQN with the Atari 100k settings of Agarwal et al. 2021",
            _sized_by_budget,
        ),
        Algorithm(
            "sac",
            "off-policy",
            SAC.Config,
            _off_policy(SAC),
            offpolicy.OffPolicyProgram,
            "Soft Actor-Critic",
            _sized_by_budget,
        ),
        Algorithm(
            "drqv2",
            "off-policy",
            DrQV2.Config,
            _off_policy(DrQV2),
            offpolicy.OffPolicyProgram,
            "DrQ-v2: DDPG with a shared, critic-trained encoder on pixels (Yarats et al. 2021)",
            _sized_by_budget,
        ),
        Algorithm(
            "reinforce",
            "iterative",
            REINFORCE.Config,
            lambda c, r, e, o: iterative.build(REINFORCE, c, r, e, o, fixed=False, per_update=1),
            iterative.IterativeProgram,
            "REINFORCE with baselines",
        ),
        _ppo_family(PPO, "PPO (clip, GAE)"),
        _ppo_family(RecurrentPPO, "PPO with a GRU or LSTM memory, truncated BPTT"),
        _ppo_family(StatefulPPO, "PPO with a stochastic internal state (S2PG), no BPTT"),
        Algorithm(
            "es",
            "iterative",
            OpenAIES.Config,
            lambda c, r, e, o: iterative.build_es(OpenAIES, c, r, e, o),
            iterative.ESProgram,
            "OpenAI Evolution Strategies",
        ),
    )
}


def get(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise unknown("agent", name, sorted(ALGORITHMS))
    return ALGORITHMS[name]


def names(kind: str | None = None) -> list[str]:
    return [n for n, a in ALGORITHMS.items() if kind is None or a.kind == kind]


def algorithms_with() -> dict[str, tuple[str, ...]]:
    """Capability -> the algorithms whose programs offer it (for error messages)."""
    out: dict[str, list[str]] = {}
    for name, algorithm in ALGORITHMS.items():
        for capability in algorithm.capabilities:
            out.setdefault(capability, []).append(name)
    return {c: tuple(n) for c, n in out.items()}
