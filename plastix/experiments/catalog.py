"""The named experiments: the plasticity papers' claims, each as cells and verdicts.

``small`` budgets are sized for a 2-core CPU (small networks, short runs); ``paper`` budgets
follow the papers and are meant for a GPU. Each experiment's ``why`` says which environments
and budgets it uses and why the effect can show there.
"""

from __future__ import annotations

import dataclasses

from plastix.experiments import paper
from plastix.experiments.base import SMALL_NET, Cell, Experiment
from plastix.experiments.continual import CONTINUAL
from plastix.experiments.results import Results
from plastix.experiments.visual import (
    ADAPTIVE_REPLAY_RATIO,
    AUGMENTATION_PLASTICITY,
    AUGMENTATION_TIMING,
    INJECTION_DIAGNOSIS,
)
from plastix.plasticity.config import (
    PlasticityConfig,
    PrimeConfig,
    ResetConfig,
)

# 1. heavy-priming ---------------------------------------------------------------------------


def heavy_priming_cells(scale: str, steps: int | None = None, prime_updates: int | None = None):
    if scale != "small":
        return paper.heavy_priming(scale)
    small = True
    steps = steps or (30_000 if small else 200_000)
    prime_updates = prime_updates or 100_000
    options = dict(SMALL_NET, learning_starts=100) if small else dict(learning_starts=100)
    prime = PrimeConfig(at=100, updates=prime_updates)
    resets = ResetConfig(every=steps // 6)
    # one reset, halfway (the next would fall on the last step, where nothing acts)
    fresh = ResetConfig(every=steps // 2)
    base = dict(agent="dqn", env="CartPole-v1", steps=steps, options=options)
    return [
        Cell("unprimed", **base),
        Cell("primed", plasticity=PlasticityConfig(prime=prime), **base),
        Cell("primed-resets", plasticity=PlasticityConfig(prime=prime, reset=resets), **base),
        Cell(
            "primed-fresh-network",
            plasticity=PlasticityConfig(prime=prime, reset=fresh),
            **base,
        ),
    ]


HEAVY_PRIMING_CLAIMS = (
    ("unprimed", "primed", "Heavy priming hurts: the unprimed agent beats the primed."),
    (
        "primed-resets",
        "primed",
        "Periodic resets let the primed agent recover (keeping the buffer).",
    ),
    (
        "primed-fresh-network",
        "primed",
        "A fresh network on the primed agent's data recovers where the primed one does not.",
    ),
)


def heavy_priming_claims(r: Results):
    """The claims whose configurations were run (the demo runs the first three). Priming can
    only be seen to hurt where the unprimed agent learns, and recovery only where it hurt."""
    env = r.envs("unprimed")[0]
    learns = r.learns(env, "unprimed", "The unprimed agent learns (beats a random policy).")
    hurts = r.given(learns, r.compare(*HEAVY_PRIMING_CLAIMS[0]))
    later = [r.given(hurts, r.compare(*c)) for c in HEAVY_PRIMING_CLAIMS[1:] if r.envs(c[0])]
    return [hurts, *later]


HEAVY_PRIMING = Experiment(
    name="heavy-priming",
    title="Heavy priming (Nikishin et al. 2022)",
    paper="Nikishin et al. 2022, *The Primacy Bias in Deep RL*, Section 3",
    why=(
        "DQN on CartPole-v1 (64-64 networks at small scale): 100 steps of random play, then "
        "100,000 gradient updates on those 100 transitions (`--prime.at 100 --prime.updates "
        "100000`), then ordinary training at replay ratio 1. *primed-resets* resets every "
        "network five times over the run; *primed-fresh-network* resets everything once, "
        "halfway, so from then on a fresh network learns from the replay buffer the "
        "primed agent filled. CartPole is where DQN learns within tens of thousands of steps on "
        "a CPU, so a lasting handicap from priming shows within the budget."
    ),
    cells=heavy_priming_cells,
    claims=heavy_priming_claims,
)


# 2. replay-ratio-resets ----------------------------------------------------------------------

RR_ENVS = {"sac": ("Pendulum-v1", "MountainCarContinuous-v0"), "dqn": ("CartPole-v1", "Acrobot-v1")}


def replay_ratio_resets_cells(scale: str):
    if scale != "small":
        return paper.replay_ratio_resets(scale)
    small = True
    high = 8 if small else 32
    cells = []
    for agent, envs in RR_ENVS.items():
        steps = (8_000 if agent == "sac" else 15_000) if small else 200_000
        options = dict(SMALL_NET) if small else {}
        for env in envs:
            for ratio in (1, high):
                for reset in (False, True):
                    plasticity = PlasticityConfig(
                        reset=ResetConfig(every=steps // 4) if reset else ResetConfig()
                    )
                    group = f"rr{ratio}" + ("-reset" if reset else "")
                    cells.append(
                        Cell(group, agent, env, steps, ratio, options, plasticity, evaluations=8)
                    )
    return cells


def replay_ratio_resets_claims(r: Results):
    """Per high ratio (8 at small scale; 32 on DMC and 4 on Atari at paper scale): resets help
    there where, without them, it is worse than ratio 1."""
    highs = sorted(
        {g.split("-")[0] for g in r.groups() if g.startswith("rr") and g.split("-")[0] != "rr1"},
        key=lambda g: float(g[2:]),
    )
    claims = []
    for high in highs:
        envs = r.envs(high)
        hurts = r.compare(
            "rr1", high, f"Without resets, replay ratio {high[2:]} is worse than 1.", envs
        )
        claims.append(
            r.given(
                hurts,
                r.compare(
                    f"{high}-reset",
                    high,
                    f"At a high replay ratio ({high[2:]}), resets help.",
                    envs,
                ),
            )
        )
    claims.append(
        r.not_better("rr1-reset", "rr1", "At replay ratio 1, resets do not help.", r.envs("rr1"))
    )
    return claims


REPLAY_RATIO_RESETS = Experiment(
    name="replay-ratio-resets",
    title="Replay ratio × resets (Nikishin et al. 2022; D'Oro et al. 2023)",
    paper="Nikishin et al. 2022 and D'Oro et al. 2023: resets unlock high replay ratios",
    why=(
        "The 2×2 of replay ratio (1 vs 8 at small scale, 32 at paper scale) × resets (off / "
        "every quarter of the run) for SAC on Pendulum-v1 and MountainCarContinuous-v0 "
        "(8,000 steps) and DQN on CartPole-v1 and Acrobot-v1 (15,000 steps), 64-64 networks. "
        "The claim is the interaction: resets help at the high ratio and not at ratio 1. The "
        "verdicts pool the four environments as tasks."
    ),
    cells=replay_ratio_resets_cells,
    claims=replay_ratio_resets_claims,
)


def with_protocol(e: Experiment) -> Experiment:
    """The experiment with its medium and paper protocols and the paper's seed count."""
    seeds = dict(e.default_seeds, paper=paper.PAPER_SEEDS.get(e.name, 10))
    return dataclasses.replace(e, protocols=paper.PROTOCOLS[e.name], default_seeds=seeds)


EXPERIMENTS = {
    e.name: with_protocol(e)
    for e in (
        HEAVY_PRIMING,
        REPLAY_RATIO_RESETS,
        AUGMENTATION_PLASTICITY,
        INJECTION_DIAGNOSIS,
        AUGMENTATION_TIMING,
        ADAPTIVE_REPLAY_RATIO,
        CONTINUAL,
    )
}


# the demo: a short heavy-priming -------------------------------------------------------------

DEMO_STEPS = 30_000
DEMO_PRIME_UPDATES = 50_000


def demo_cells(scale: str):
    return heavy_priming_cells("small", steps=DEMO_STEPS, prime_updates=DEMO_PRIME_UPDATES)[:3]


DEMO = Experiment(
    name="demo",
    title="plastix demo: heavy priming and resets",
    paper="A short version of `plastix experiment heavy-priming` (Nikishin et al. 2022)",
    why=(
        f"DQN on CartPole-v1 with 64-64 networks, {DEMO_STEPS:,} steps: unprimed; primed "
        f"({DEMO_PRIME_UPDATES:,} updates on the first 100 random transitions); primed with "
        f"resets every {DEMO_STEPS // 6:,} steps (the replay buffer is kept)."
    ),
    cells=demo_cells,
    claims=heavy_priming_claims,
)
