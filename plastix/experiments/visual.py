"""The visual-RL experiments of Ma et al. (ICLR 2024): augmentation and resets, where
plasticity loss hurts (critic or actor), the timing of augmentation, and the Adaptive Replay
Ratio."""

from __future__ import annotations

from pathlib import Path

from plastix import runs
from plastix.experiments import paper
from plastix.experiments.base import MINATAR_SMALL, SMALL_NET, Cell, Experiment
from plastix.experiments.results import Results
from plastix.plasticity.config import (
    AugmentConfig,
    InjectConfig,
    PlasticityConfig,
    ReDoConfig,
    ReplayScheduleConfig,
    ResetConfig,
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
    if scale != "small":
        return paper.augmentation_plasticity(scale)
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
    if scale != "small":
        return paper.injection_diagnosis(scale)
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
    ][: 2 if r.envs("inject-actor") else 1]  # DQN (medium scale) has no actor


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
    if scale != "small":
        return paper.augmentation_timing(scale)
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
    if scale != "small":
        return paper.adaptive_replay_ratio(scale)
    small = scale == "small"
    steps = 10_000 if small else 1_000_000
    options = dict(SMALL_NET) if small else {}
    low, high = (0.5, 4.0) if small else (0.5, 2.0)
    check = 5 if small else 50  # episodes: 1,000 Pendulum steps at small scale
    cells = []
    for env in ("Pendulum-v1",) if small else ("Pendulum-v1", "MountainCarContinuous-v0"):
        arr = ReplayScheduleConfig(kind="adaptive", low=low, high=high, check_episodes=check)
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


def adaptive_replay_ratio_details(groups: dict[str, tuple[str, str]]) -> list[str]:
    """Where every seed of every ARR cell switched to the high ratio."""
    lines = ["## Where ARR switched", "", "| environment | seed | switch step |", "|---|---|---|"]
    for run_dir, (env, group) in groups.items():
        if group != "arr":
            continue
        summary = runs.load_summary(Path(run_dir))
        switches = summary.get("replay_ratio_switch_steps", [])
        seeds = summary.get("seeds") or range(len(switches))
        for seed, at in zip(seeds, switches, strict=False):
            lines.append(f"| {env} | {seed} | {'did not switch' if at is None else f'{at:,}'} |")
    return [*lines, ""]


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
    details=adaptive_replay_ratio_details,
)
