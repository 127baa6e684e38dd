"""Each new domain trains a few hundred steps through ``plastix.train`` (two seeds, an
evaluation, a stored run)."""

import numpy as np
import pytest

import plastix


@pytest.mark.parametrize(
    "agent, env, options",
    [
        ("sac", "dmc:cartpole-swingup,repeat=8", {"hidden_sizes": (16, 16), "batch_size": 16}),
        (
            "sac",
            "dmc-pixels:cartpole-swingup,repeat=8,size=32",
            {"hidden_sizes": (16,), "batch_size": 8, "conv_channels": (4,), "conv_strides": (2,)},
        ),
        (
            "drqv2",
            "dmc-pixels:cartpole-swingup,repeat=8,size=32",
            {"hidden_sizes": (16,), "batch_size": 8, "conv_channels": (4,), "conv_strides": (2,)},
        ),
        (
            "drq-eps",
            "atari:Pong",
            {"hidden_sizes": (16,), "batch_size": 8, "conv_channels": (4, 4), "n_step": 3},
        ),
    ],
)
def test_each_domain_trains_a_few_hundred_steps(agent, env, options, tmp_path):
    if agent == "drq-eps":
        options = options | {"conv_kernel_sizes": (8, 4), "conv_strides": (4, 2)}
    else:
        options = options | {"conv_kernel_sizes": (3,)} if "conv_channels" in options else options
    result = plastix.train(
        agent,
        env,
        steps=240,
        seeds=2,
        eval_every=240,
        eval_episodes=1,
        log_every=80,
        learning_starts=80,
        out=tmp_path / "run",
        progress=False,
        **options,
    )
    summary = result.summary
    assert summary["status"] == "completed"
    assert np.isfinite(summary["final_eval_return_mean"])
    assert result.metrics.query("metric == 'critic_loss'")["value"].notna().all()
