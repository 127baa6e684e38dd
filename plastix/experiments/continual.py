"""The continual-learning experiment: loss of plasticity over a task sequence (Dohare et al.
2024) and the cures that are said to keep it, judged on the returns at each task's end."""

from __future__ import annotations

from plastix.experiments.base import SMALL_NET, Cell, Experiment
from plastix.experiments.results import Results
from plastix.plasticity.config import PlasticityConfig, ResetConfig, ShrinkPerturbConfig
from plastix.plasticity.interventions import CBPConfig, L2InitConfig, NaPConfig


def continual_cells(scale: str):
    if scale in ("small", "medium"):  # PPO on permuted CartPole: 10 (40) tasks × 20,480 steps
        every, tasks = 20_480, 10 if scale == "small" else 40
        base = dict(agent="ppo", env="CartPole-v1", options=dict(SMALL_NET, anneal_lr=False))
        scenario = dict(scenario="permuted", switch_every=every)
        cbp = CBPConfig(every=16, maturity=1000)
    else:  # DQN on MinAtar games in sequence: 8 tasks × 500,000 steps
        every, tasks = 500_000, 8
        base = dict(agent="dqn", env="MinAtar-Breakout", options={})
        games = ("MinAtar-SpaceInvaders", "MinAtar-Asterix", "MinAtar-Freeway")
        scenario = dict(scenario="sequence", switch_every=every, scenario_tasks=games)
        cbp = CBPConfig(every=100)
    base = dict(base, steps=every * tasks, scenario=scenario, evaluations=tasks)
    return [
        Cell("vanilla", **base),
        Cell("cbp", plasticity=PlasticityConfig(cbp=cbp), **base),
        Cell("l2-init", plasticity=PlasticityConfig(l2_init=L2InitConfig(coef=1e-2)), **base),
        Cell(
            "shrink-perturb",
            plasticity=PlasticityConfig(shrink_perturb=ShrinkPerturbConfig(every=every)),
            **base,
        ),
        Cell("resets", plasticity=PlasticityConfig(reset=ResetConfig(every=every)), **base),
        Cell("nap", plasticity=PlasticityConfig(nap=NaPConfig(on=True)), **base),
    ]


CONTINUAL_CURES = (
    ("cbp", "Continual backprop keeps learning: it beats the vanilla agent on the last tasks."),
    ("l2-init", "L2 toward the initial parameters keeps learning: it beats vanilla there."),
    ("shrink-perturb", "Shrink-and-perturb at every switch beats vanilla on the last tasks."),
    ("resets", "Resetting at every switch beats vanilla on the last tasks."),
    ("nap", "Normalize-and-Project beats vanilla on the last tasks."),
)


def continual_claims(r: Results):
    env = r.envs("vanilla")[0]
    ends = r.metric(env, "vanilla", "task_end_return")
    first, late = ends.iloc[0].to_numpy(), r.scores(env, "vanilla")
    claims = [
        r.compare_scores(
            first,
            late,
            ("first task", "last tasks"),
            "Plasticity is lost: the vanilla agent scores lower on its last tasks than on its "
            "first.",
        )
    ]
    # a cure can only be seen to keep plasticity where the vanilla agent loses it
    declines = claims[0]
    return claims + [
        r.given(declines, r.compare(cure, "vanilla", text)) for cure, text in CONTINUAL_CURES
    ]


CONTINUAL = Experiment(
    name="continual",
    title="Loss of plasticity over a task sequence (Dohare et al. 2024)",
    paper="Dohare et al., Nature 2024, *Loss of plasticity in deep continual learning*",
    why=(
        "Small scale: PPO (64-64, constant learning rate 2.5e-3) on CartPole-v1 whose "
        "observations are shown through a new fixed permutation every 20,480 steps, 10 tasks "
        "(`--scenario permuted --switch-every 20480`). Paper scale: DQN on MinAtar games in "
        "sequence (Breakout → Space Invaders → Asterix → Freeway, cycled, 8 tasks × 500,000 "
        "steps). A cell's score is the mean evaluation return at the end of its last three "
        "tasks (`task_end_return`); the first claim compares the vanilla agent's first task "
        "with its last three. Continual backprop: replacement rate 1e-4 per update, maturity "
        "1,000 updates at small scale (the paper's 10,000 is more than the 6,400 updates of "
        "the run); L2-init λ 1e-2; shrink-and-perturb (α 0.8, σ 0.2) and resets of every "
        "network at each switch; NaP on every hidden layer. Nothing was tuned on the verdicts."
    ),
    cells=continual_cells,
    claims=continual_claims,
    metric="task_end_return",
    last=3,
)
