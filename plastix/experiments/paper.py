"""The papers' own protocols (``--scale paper``) and the CPU-hours ones between (``medium``).

Paper scale is each paper's agent, domain, budget, schedule and seeds, taken from its text and
reference code; ``PROTOCOLS[name]`` cites the figure or table a cell list reproduces and names
every deviation, and the experiment's report prints it. These budgets are meant for GPUs:
DrQ-v2 at batch 256 takes seconds per update on a 2-core CPU, and a DMC pixel buffer of 10⁶
frames is about 21 GB per seed. Medium scale keeps an experiment's design on a domain and
budget a CPU finishes in a few hours, where the effect has some room to show.
"""

from __future__ import annotations

from plastix.envs.atari import REFERENCE as ATARI_100K
from plastix.experiments.base import Cell
from plastix.plasticity.config import (
    AugmentConfig,
    InjectConfig,
    PlasticityConfig,
    PrimeConfig,
    ReDoConfig,
    ReplayScheduleConfig,
    ResetConfig,
)

# Nikishin et al. 2022 ---------------------------------------------------------------------

# rl_with_resets configs/sac.py and train_dense.py: 256-256, Adam 3e-4, batch 256, 10⁴ random
# steps, a 10⁶ buffer; curves/sac holds these ten tasks at 2·10⁶ steps, ten seeds each
PRIMACY_SAC = dict(
    hidden_sizes=(256, 256),
    learning_rate=3e-4,
    batch_size=256,
    learning_starts=10_000,
    buffer_size=1_000_000,
)
PRIMACY_TASKS = tuple(
    f"dmc:{task}"
    for task in (
        "acrobot-swingup",
        "cheetah-run",
        "finger-turn_hard",
        "fish-swim",
        "hopper-hop",
        "humanoid-run",
        "humanoid-stand",
        "quadruped-run",
        "swimmer-swimmer15",
        "walker-run",
    )
)
ATARI_GAMES = tuple(f"atari:{game}" for game in ATARI_100K)


def heavy_priming(scale: str) -> list[Cell]:
    if scale == "paper":  # §3.1, Figure 1: SAC on quadruped-run
        env, steps, options = "dmc:quadruped-run", 1_000_000, dict(PRIMACY_SAC)
    else:  # medium: a DMC task SAC learns within 100k steps, 64-64 networks
        env, steps, options = "dmc:cheetah-run", 100_000, dict(PRIMACY_SAC, hidden_sizes=(64, 64))
    options["learning_starts"] = 100  # 100 transitions, then 10⁵ updates on them
    prime = PrimeConfig(at=100, updates=100_000)
    every = 200_000 if scale == "paper" else steps // 5  # the primacy-sac recipe's interval
    base = dict(agent="sac", env=env, steps=steps, options=options)
    return [
        Cell("unprimed", **base),
        Cell("primed", plasticity=PlasticityConfig(prime=prime), **base),
        Cell(
            "primed-resets",
            plasticity=PlasticityConfig(
                prime=prime, reset=ResetConfig(recipe="primacy-sac", every=every)
            ),
            **base,
        ),
        Cell(
            "primed-fresh-network",
            plasticity=PlasticityConfig(prime=prime, reset=ResetConfig(every=steps // 2)),
            **base,
        ),
    ]


def replay_ratio_resets(scale: str) -> list[Cell]:
    cells = []
    if scale == "paper":  # Figure 5 / Table 5 (SAC, RR 1 and 32) and Table 1 (Atari 100k)
        dmc = [(env, 2_000_000, dict(PRIMACY_SAC), 32, 200_000) for env in PRIMACY_TASKS]
        atari = [(env, 100_000, {}, 4, 20_000) for env in ATARI_GAMES]
    else:  # medium: one DMC task at a ratio and a budget the CPU allows
        dmc = [("dmc:cheetah-run", 30_000, dict(PRIMACY_SAC, hidden_sizes=(64, 64)), 8, 7_500)]
        atari = []
    for agent, runs in (("sac", dmc), ("drq-eps", atari)):
        for env, steps, options, high, every in runs:
            recipe = "primacy-sac" if agent == "sac" else "spr"
            for ratio in (1, high):
                for reset in (False, True):
                    plasticity = PlasticityConfig(
                        reset=ResetConfig(recipe=recipe, every=every) if reset else ResetConfig()
                    )
                    group = f"rr{ratio}" + ("-reset" if reset else "")
                    cells.append(
                        Cell(group, agent, env, steps, ratio, options, plasticity, evaluations=10)
                    )
    return cells


# Ma et al. 2024 ---------------------------------------------------------------------------

# Table 1's tasks (Cheetah Run, Walker Run, Quadruped Run); 2M frames = 10⁶ agent steps at
# action repeat 2; DrQ-v2's defaults are the reference's (cfgs/config.yaml), with its per-task
# overrides: walker n-step 1 and batch 512, quadruped_run a 10⁵ buffer
MA_TASKS = ("dmc-pixels:cheetah-run", "dmc-pixels:walker-run", "dmc-pixels:quadruped-run")
MA_STEPS = 1_000_000


def drqv2_options(env: str) -> dict:
    if "walker" in env:
        return dict(n_step=1, batch_size=512)
    if env.endswith("quadruped-run"):
        return dict(buffer_size=100_000)
    return {}


def _ma(scale: str):
    """(tasks, agent steps, options per task)."""
    if scale == "paper":
        return MA_TASKS, MA_STEPS, drqv2_options
    # medium: DrQ-v2 on pixels is out of a CPU's reach; DrQ(ε)'s data-efficient DQN on MinAtar
    # Breakout (1 update per step at batch 32) for 200k steps is what fits, with MinAtar's own
    # network (one 3×3 convolution of 16 channels, 128 units) for its 10×10 grids
    return ("MinAtar-Breakout",), 200_000, lambda env: dict(MINATAR_NET)


MINATAR_NET = dict(
    conv_channels=(16,), conv_kernel_sizes=(3,), conv_strides=(1,), hidden_sizes=(128,)
)


def _agent(scale: str) -> str:
    return "drqv2" if scale == "paper" else "drq-eps"


def _augment(scale: str, on: bool, **when) -> tuple[dict, PlasticityConfig]:
    """Options and plasticity for augmentation on/off (random shifts of 4 pixels on DMC
    pixels, DrQ-v2's; of 1 cell on MinAtar's 10×10 grids), as a switch of the loop."""
    pad = 4 if scale == "paper" else 1
    augment = AugmentConfig(pad=pad, **when) if on else AugmentConfig()
    return {"augment_pad": 0}, PlasticityConfig(augment=augment)


def augmentation_plasticity(scale: str) -> list[Cell]:
    envs, steps, per_task = _ma(scale)
    cells = []
    for env in envs:
        # Figure 1: Nikishin et al.'s DrQ resets, 10 over the run (5 on Quadruped Run)
        every = steps // (5 if env.endswith("quadruped-run") else 10)
        for aug in (False, True):
            for reset in (False, True):
                options, plasticity = _augment(scale, aug)
                if reset:
                    plasticity = PlasticityConfig(
                        augment=plasticity.augment, reset=ResetConfig(recipe="drq", every=every)
                    )
                group = ("aug" if aug else "no-aug") + ("-reset" if reset else "")
                cells.append(
                    Cell(group, _agent(scale), env, steps, 1.0, per_task(env) | options, plasticity)
                )
    return cells


def injection_diagnosis(scale: str) -> list[Cell]:
    envs, steps, per_task = _ma(scale)
    envs = envs[1:2] if scale == "paper" else envs  # Figure 5: Walker Run
    at = steps // 2  # after 1M frames without augmentation
    cells = []
    for env in envs:
        for group, networks in (
            ("none", None),
            ("inject-critic", "critic"),
            ("inject-actor", "actor"),
        ):
            if scale != "paper" and networks == "actor":
                continue  # DQN has no actor
            options, _ = _augment(scale, False)
            plasticity = PlasticityConfig(
                inject=InjectConfig(at=at, networks=networks) if networks else InjectConfig()
            )
            cells.append(
                Cell(group, _agent(scale), env, steps, 1.0, per_task(env) | options, plasticity)
            )
    return cells


def augmentation_timing(scale: str) -> list[Cell]:
    envs, steps, per_task = _ma(scale)
    switch = steps // 2  # Figure 6's dashed line (1M frames)
    cells = []
    for env in envs:
        for group, on, when in (
            ("always", True, {}),
            ("early-only", True, {"stop": switch}),
            ("late-only", True, {"start": switch}),
            ("never", False, {}),
        ):
            options, plasticity = _augment(scale, on, **when)
            cells.append(
                Cell(group, _agent(scale), env, steps, 1.0, per_task(env) | options, plasticity)
            )
    return cells


def adaptive_replay_ratio(scale: str) -> list[Cell]:
    envs, steps, per_task = _ma(scale)
    low, high = 0.5, 2.0
    # 50 episodes of 1000 frames; the reference code averages the last episode's batches.
    # MinAtar's episodes are short and vary: 50 of them are a few thousand steps
    window = "last-episode" if scale == "paper" else "since-check"
    arr = ReplayScheduleConfig(
        kind="adaptive", low=low, high=high, check_episodes=50, window=window
    )
    cells = []
    for env in envs:
        options = per_task(env)
        agent = _agent(scale)
        recipe = "drq" if scale == "paper" else None
        cells += [
            Cell("arr", agent, env, steps, low, options, PlasticityConfig(replay_schedule=arr)),
            Cell("fixed-low", agent, env, steps, low, options),
            Cell("fixed-high", agent, env, steps, high, options),
            Cell(
                "high-reset",
                agent,
                env,
                steps,
                high,
                options,
                PlasticityConfig(reset=ResetConfig(recipe=recipe, every=steps // 10)),
            ),
            Cell(
                "high-redo",
                agent,
                env,
                steps,
                high,
                options,
                PlasticityConfig(redo=ReDoConfig(every=1_000)),
            ),
        ]
    return cells


# Ma et al. ran 5 seeds (Figure 1, Table 1); Nikishin et al. 10 (Appendix A)
PAPER_SEEDS = {
    "augmentation-plasticity": 5,
    "injection-diagnosis": 5,
    "augmentation-timing": 5,
    "adaptive-replay-ratio": 5,
}

PROTOCOLS = {
    "heavy-priming": {
        "paper": (
            "Reproduces Nikishin et al. 2022, §3.1 and Figure 1: SAC (256-256, Adam 3·10⁻⁴, "
            "batch 256) on DMC quadruped-run from states; 100 random transitions, then 10⁵ "
            "updates on them, then ordinary training at one update per step for 10⁶ steps; "
            "10 seeds (Appendix A). Deviations: *primed-resets* adds §5's SAC recipe (a new "
            "agent every 2·10⁵ steps, `--reset.recipe primacy-sac`), which Figure 1 does not "
            "show; *primed-fresh-network* is one full reset halfway, our version of §3.2's "
            "fresh agent trained on a primed agent's buffer (there at 9 updates per step)."
        ),
        "medium": (
            "SAC with 64-64 networks on dmc:cheetah-run for 100k steps, primed as at paper "
            "scale (10⁵ updates on the first 100 transitions); resets every 20k steps."
        ),
    },
    "replay-ratio-resets": {
        "paper": (
            "Reproduces Nikishin et al. 2022, Figure 5 and Appendix Table 5 (SAC at 1 and 32 "
            "updates per step, with and without the 2·10⁵-step resets, on the ten DMC tasks "
            "of the reference curves, 2·10⁶ steps, 10 seeds) and Table 1's Atari 100k "
            "setting (resets of the head every 2·10⁴ steps, 26 games). Deviation: the Atari "
            "agent is DrQ(ε) with the SPR reset recipe, not SPR (not in plastix), at 1 and 4 "
            "updates per step (Figure 5's 4)."
        ),
        "medium": (
            "SAC, 64-64, on dmc:cheetah-run for 30k steps at replay ratio 1 and 8, resets "
            "of every network every 7,500 steps."
        ),
    },
    "augmentation-plasticity": {
        "paper": (
            "Reproduces Ma et al. 2024, §3 and Figure 1: DrQ-v2 (the reference's settings and "
            "per-task overrides) from pixels with and without random shifts (4 pixels), with "
            "and without Nikishin et al.'s DrQ resets (everything but the encoder, 10 over "
            "the run, 5 on Quadruped Run), on Cheetah Run, Walker Run and Quadruped Run, 2M "
            "frames (10⁶ agent steps), 5 seeds. Deviation: the figure's tasks are not named "
            "in the text; these are Table 1's three."
        ),
        "medium": (
            "DrQ(ε) on MinAtar Breakout for 200k steps, shifts of 1 cell; DrQ-v2 on pixels "
            "does not fit a CPU's hours."
        ),
    },
    "injection-diagnosis": {
        "paper": (
            "Reproduces Ma et al. 2024, §4 and Figure 5: DrQ-v2 without augmentation on Walker "
            "Run; plasticity injection into the critic or the actor after 1M frames, 2M frames "
            "in all, 5 seeds. Deviation: the injection frame is not stated in the text; 1M "
            "frames is where the paper's agents stop training without augmentation."
        ),
        "medium": (
            "DrQ(ε) on MinAtar Breakout without augmentation, 200k steps, injection into the "
            "critic (DQN has no actor) halfway."
        ),
    },
    "augmentation-timing": {
        "paper": (
            "Reproduces Ma et al. 2024, §5 and Figure 6: DrQ-v2 with augmentation always, "
            "only before 1M frames, only after, or never, on Table 1's three tasks, 2M frames, "
            "5 seeds. Deviation: the switch frame is read off the figure (1M frames), not "
            "stated in the text."
        ),
        "medium": "DrQ(ε) on MinAtar Breakout for 200k steps, the switch halfway.",
    },
    "adaptive-replay-ratio": {
        "paper": (
            "Reproduces Ma et al. 2024, §6 and Table 1: DrQ-v2 at replay ratio 0.5 switching "
            "once to 2 when the critic's FAU (averaged over the last episode's update "
            "batches, as the reference code) changes by ≤ 0.001 between checks every 50 "
            "episodes, against fixed 0.5, fixed 2, and 2 with resets or ReDo, on Cheetah "
            "Run, Walker Run and Quadruped Run, 2M frames, 5 seeds. Deviations: Table 1 also "
            "has 0.5 with resets and with ReDo (left out); ReDo every 1,000 updates with "
            "τ 0.1 (our ReDo defaults), the paper's ReDo schedule is not stated."
        ),
        "medium": (
            "DrQ(ε) on MinAtar Breakout for 200k steps, ARR 0.5 → 2 with checks every 50 "
            "episodes (the average over every batch since the last check)."
        ),
    },
    "continual": {
        "medium": (
            "PPO as at small scale on permuted CartPole-v1, 40 tasks of 20,480 steps (four "
            "times as long a sequence)."
        ),
        "paper": (
            "Not the paper's protocol: Dohare et al.'s RL result is PPO on Slippery Ant "
            "(Ant-v3 whose friction changes every 2M steps, 20M steps, 100 runs), which "
            "plastix does not have. This cell list is our own RL sequence: DQN on MinAtar "
            "games in turn, 8 tasks of 500k steps."
        ),
    },
}
