"""The named experiments: the plasticity papers' claims, each as cells and verdicts.

``small`` budgets are sized for a 2-core CPU (small networks, short runs); ``paper`` budgets
follow the papers and are meant for a GPU. Each experiment's ``why`` says which environments
and budgets it uses and why the effect can show there.
"""

from __future__ import annotations

from plastix.experiments.base import Cell, Experiment
from plastix.experiments.continual import CONTINUAL
from plastix.experiments.results import Results
from plastix.plasticity.config import (
    AugmentConfig,
    InjectConfig,
    PlasticityConfig,
    PrimeConfig,
    ReDoConfig,
    ReplayScheduleConfig,
    ResetConfig,
)

SMALL_NET = dict(hidden_sizes=(64, 64))
MINATAR_SMALL = dict(hidden_sizes=(64,), conv_channels=(16,), batch_size=32)


# 1. heavy-priming ---------------------------------------------------------------------------


def heavy_priming_cells(scale: str, steps: int | None = None, prime_updates: int | None = None):
    small = scale == "small"
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
    small = scale == "small"
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
    high = next(g.split("-")[0] for g in ("rr8", "rr32") if r.envs(g))
    hurts = r.compare(
        "rr1", high, f"Without resets, replay ratio {high[2:]} is worse than 1.", r.envs(high)
    )
    return [
        r.given(
            hurts,
            r.compare(
                f"{high}-reset",
                high,
                f"At a high replay ratio ({high[2:]}), resets help.",
                r.envs(high),
            ),
        ),
        r.not_better(
            "rr1-reset",
            "rr1",
            "At replay ratio 1, resets do not help.",
            r.envs("rr1"),
        ),
    ]


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


# 3-5. visual RL: augmentation, resets, injection, timing (Ma et al. 2024) ------------------

MINATAR = ("MinAtar-Breakout", "MinAtar-SpaceInvaders")


def _minatar_base(scale: str):
    """Small scale: Breakout alone, 40,000 steps (about 80 steps/s with 5 seeds on one core,
    so 4 cells fit the hour); paper scale: both games, 1M steps."""
    small = scale == "small"
    steps = 40_000 if small else 1_000_000
    options = dict(MINATAR_SMALL) if small else {}
    envs = MINATAR[:1] if small else MINATAR
    return steps, options, envs


def augmentation_plasticity_cells(scale: str):
    steps, options, envs = _minatar_base(scale)
    cells = []
    for env in envs:
        for aug in (False, True):
            for reset in (False, True):
                plasticity = PlasticityConfig(
                    augment=AugmentConfig(pad=1 if aug else 0),
                    reset=ResetConfig(every=steps // 4) if reset else ResetConfig(),
                )
                group = ("aug" if aug else "no-aug") + ("-reset" if reset else "")
                cells.append(Cell(group, "dqn", env, steps, 1.0, options, plasticity))
    return cells


def augmentation_plasticity_claims(r: Results):
    envs = r.envs("aug")
    # the paper's mechanism: without augmentation the critic's active units fall
    lost = r.falls(envs[0], "no-aug", "critic/fau", "Without augmentation the critic's FAU falls.")
    return [
        r.given(lost, r.compare("aug", "no-aug", "Augmentation alone keeps returns high.", envs)),
        r.given(
            lost, r.compare("no-aug-reset", "no-aug", "Without augmentation, resets help.", envs)
        ),
        r.not_better("aug-reset", "aug", "With augmentation, resets add little.", envs),
    ]


AUGMENTATION_PLASTICITY = Experiment(
    name="augmentation-plasticity",
    title="Augmentation and plasticity in visual RL (Ma et al. 2024)",
    paper="Ma et al. ICLR 2024, *Revisiting Plasticity in Visual RL*, Section 4",
    why=(
        "DQN on MinAtar games (10×10 image observations; random shift with 1 pixel of "
        "replicate padding), with/without augmentation × with/without resets every quarter. "
        "MinAtar is the image domain that trains on a CPU; at small scale Breakout alone, "
        "where DQN learns fastest, for 40,000 steps with a 16-channel convolution and a "
        "64-unit layer (Breakout and SpaceInvaders, 1M steps, at paper scale). FAU over time "
        "is in the diagnostics figure."
    ),
    cells=augmentation_plasticity_cells,
    claims=augmentation_plasticity_claims,
)


def injection_diagnosis_cells(scale: str):
    steps = 21_000 if scale == "small" else 2_000_000
    options = dict(SMALL_NET) if scale == "small" else {}
    at = steps // 3
    cells = []
    for env in (
        ("Pendulum-v1",) if scale == "small" else ("Pendulum-v1", "MountainCarContinuous-v0")
    ):
        for group, networks in (
            ("none", None),
            ("inject-critic", "critic"),
            ("inject-actor", "actor"),
        ):
            plasticity = PlasticityConfig(
                inject=InjectConfig(at=at, networks=networks) if networks else InjectConfig()
            )
            cells.append(Cell(group, "sac", env, steps, 8.0, options, plasticity))
    return cells


def injection_diagnosis_claims(r: Results):
    """Both claims need plasticity to recover: the un-injected agent's critic FAU falls after
    the injection point (a third of the run)."""
    env = r.envs("none")[0]
    at = int(r.metric(env, "none", "eval_return").index.max()) // 3
    lost = r.falls(
        env, "none", "critic/fau", "Without injection the critic's FAU falls after it.", at
    )
    return [
        r.given(
            lost,
            r.compare(
                "inject-critic", "none", "Injecting plasticity into the critic recovers learning."
            ),
        ),
        r.given(
            lost, r.not_better("inject-actor", "none", "Injecting it into the actor does not.")
        ),
    ]


INJECTION_DIAGNOSIS = Experiment(
    name="injection-diagnosis",
    title="Where plasticity loss hurts: critic or actor (Ma et al. 2024)",
    paper="Ma et al. ICLR 2024, Section 5 (plasticity injection into the actor vs the critic)",
    why=(
        "SAC without augmentation at replay ratio 8 (where plasticity loss is likely), on "
        "Pendulum-v1 with 64-64 networks for 21,000 steps at small scale (Pendulum and "
        "MountainCarContinuous, 2M steps, at paper scale); plasticity injection at a third of "
        "the run into the critic, or into the actor, or none."
    ),
    cells=injection_diagnosis_cells,
    claims=injection_diagnosis_claims,
)


def augmentation_timing_cells(scale: str):
    steps, options, envs = _minatar_base(scale)
    third = steps // 3
    cells = []
    for env in envs:
        for group, aug in (
            ("always", AugmentConfig(pad=1)),
            ("early-only", AugmentConfig(pad=1, stop=third)),
            ("late-only", AugmentConfig(pad=1, start=third)),
            ("never", AugmentConfig()),
        ):
            cells.append(
                Cell(group, "dqn", env, steps, 1.0, options, PlasticityConfig(augment=aug))
            )
    return cells


def augmentation_timing_claims(r: Results):
    """When augmentation is applied matters only where augmentation helps at all."""
    envs = r.envs("always")
    helps = r.compare("always", "never", "Augmentation helps (always beats never).", envs)
    return [
        r.given(
            helps,
            r.not_better(
                "always",
                "early-only",
                "Turning augmentation off after the first third costs little.",
                envs,
            ),
        ),
        r.given(
            helps,
            r.compare(
                "early-only",
                "late-only",
                "Turning it on only after the first third does not recover.",
                envs,
            ),
        ),
    ]


AUGMENTATION_TIMING = Experiment(
    name="augmentation-timing",
    title="Early training is decisive (Ma et al. 2024)",
    paper="Ma et al. ICLR 2024, Section 4.3",
    why=(
        "DQN on MinAtar, augmentation always / only in the first third / only after it / "
        "never: Breakout alone for 40,000 steps at small scale (as in "
        "augmentation-plasticity), Breakout and SpaceInvaders for 1M steps at paper scale."
    ),
    cells=augmentation_timing_cells,
    claims=augmentation_timing_claims,
)


# 6. adaptive-replay-ratio ------------------------------------------------------------------


def adaptive_replay_ratio_cells(scale: str):
    small = scale == "small"
    steps = 10_000 if small else 1_000_000
    options = dict(SMALL_NET) if small else {}
    low, high = (0.5, 4.0) if small else (0.5, 2.0)
    check = steps // 10
    cells = []
    for env in ("Pendulum-v1",) if small else ("Pendulum-v1", "MountainCarContinuous-v0"):
        arr = ReplayScheduleConfig(kind="adaptive", low=low, high=high, check_every=check)
        cells += [
            Cell("arr", "sac", env, steps, low, options, PlasticityConfig(replay_schedule=arr)),
            Cell("fixed-low", "sac", env, steps, low, options),
            Cell("fixed-high", "sac", env, steps, high, options),
            Cell(
                "high-reset",
                "sac",
                env,
                steps,
                high,
                options,
                PlasticityConfig(reset=ResetConfig(every=steps // 4)),
            ),
            Cell(
                "high-redo",
                "sac",
                env,
                steps,
                high,
                options,
                PlasticityConfig(redo=ReDoConfig(every=1000)),
            ),
        ]
    return cells


def adaptive_replay_ratio_claims(r: Results):
    """Adapting the ratio can only matter where the fixed ratios differ."""
    matters = r.differs(
        "fixed-high", "fixed-low", "The replay ratio matters (fixed high and low differ)."
    )
    return [
        r.given(
            matters,
            r.not_better(other, "arr", f"The Adaptive Replay Ratio is not beaten by {other}."),
        )
        for other in ("fixed-low", "fixed-high", "high-reset", "high-redo")
    ]


ADAPTIVE_REPLAY_RATIO = Experiment(
    name="adaptive-replay-ratio",
    title="Adaptive Replay Ratio (Ma et al. 2024)",
    paper="Ma et al. ICLR 2024, Section 6",
    why=(
        "SAC on Pendulum-v1 (64-64, 10,000 steps at small scale): ARR (0.5, switching once to "
        "4 when the critic's FAU changes by ≤ 0.001 between checks every 1,000 steps) against "
        "fixed 0.5, fixed 4, and 4 with resets or ReDo."
    ),
    cells=adaptive_replay_ratio_cells,
    claims=adaptive_replay_ratio_claims,
)


EXPERIMENTS = {
    e.name: e
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
