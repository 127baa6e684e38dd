"""Every cure on every agent through the CLI: stored, reloaded, and visibly in effect."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pandas as pd
import pytest

from plastix import optim

CLI_CURES = {
    "a": [
        "--crelu.on",
        "--l2.coef",
        "1e-3",
        "--l2-init.coef",
        "1e-2",
        "--parseval.coef",
        "1e-3",
        "--trac.on",
        *("--cbp.every", "20", "--cbp.maturity", "0", "--cbp.replacement-rate", "0.05"),
    ],
    "b": ["--fourier.on", "--nap.on", "--weight-clip.kappa", "3"],
}
AGENTS = {
    "dqn": [
        "--env",
        "CartPole-v1",
        "--steps",
        "400",
        "--learning-starts",
        "100",
        "--batch-size",
        "16",
    ],
    "sac": [
        "--env",
        "Pendulum-v1",
        "--steps",
        "400",
        "--learning-starts",
        "100",
        "--batch-size",
        "16",
    ],
    "drqv2": [
        *("--env", "dmc-pixels:cartpole-swingup,repeat=8,size=32", "--steps", "300"),
        *("--learning-starts", "100", "--batch-size", "8", "--feature-dim", "8"),
        *("--conv-channels", "4", "--conv-kernel-sizes", "3", "--conv-strides", "2"),
    ],
    "drq-eps": [
        *("--env", "atari:Pong", "--steps", "300", "--learning-starts", "100"),
        *("--batch-size", "8", "--n-step", "3", "--conv-channels", "4", "4"),
        *("--conv-kernel-sizes", "8", "4", "--conv-strides", "4", "2"),
    ],
    "ppo": [
        "--env",
        "CartPole-v1",
        "--steps",
        "1024",
        "--parallel-envs",
        "4",
        "--rollout-steps",
        "64",
    ],
    "reinforce": ["--env", "CartPole-v1", "--steps", "1000", "--episodes-per-iteration", "2"],
    "ppo-gru": [
        *("--env", "pomdp:CartPole-v1", "--steps", "1024", "--parallel-envs", "4"),
        *("--rollout-steps", "64", "--memory-size", "6"),  # not the torso's width
    ],
    "ppo-s2pg": [
        *("--env", "pomdp:CartPole-v1", "--steps", "1024", "--parallel-envs", "4"),
        *("--rollout-steps", "64", "--state-size", "3"),
    ],
}


SLOW_AGENTS = ("ppo-gru", "ppo-s2pg")  # about a minute each; PPO's own case runs by default


@pytest.mark.parametrize(
    "agent",
    [pytest.param(a, marks=pytest.mark.slow) if a in SLOW_AGENTS else a for a in AGENTS],
)
def test_every_cure_runs_on_every_agent_through_the_cli(agent, tmp_path):
    from plastix import api
    from plastix.cli import main

    for group, flags in CLI_CURES.items():
        out = tmp_path / group
        argv = ["train", agent, *AGENTS[agent], "--hidden-sizes", "8", "8", "--eval-episodes", "1"]
        argv += ["--no-progress", "--out", str(out), *flags]
        assert main(argv) == 0
        record = json.loads((out / "config.json").read_text())["plasticity"]
        params = api.load_policy(out).policies
        leaves = jax.tree.leaves(params)
        assert all(np.isfinite(np.asarray(x)).all() for x in leaves)
        flat = optim.named_leaves(params)
        dense_1 = [x for n, x in flat.items() if n.endswith("torso/dense_1/kernel")]
        assert dense_1 and all(x.shape[-2] == 16 for x in dense_1)  # doubled by crelu / fourier
        if group == "a":
            assert record["crelu"]["on"] and record["trac"]["on"]
            assert record["parseval"]["coef"] == 1e-3 and record["cbp"]["every"] == 20
            metrics = pd.read_parquet(out / "metrics.parquet")
            assert metrics[metrics.metric == "intervention/cbp"].value.sum() > 0
        else:
            assert record["nap"]["on"] and record["weight_clip"]["kappa"] == 3.0
            assert any("norm_0" in n for n in flat)  # NaP's LayerNorm
            for n, x in flat.items():
                if n.endswith("torso/dense_1/kernel"):
                    assert np.abs(np.asarray(x)).max() <= 3 / math.sqrt(16) + 1e-6
