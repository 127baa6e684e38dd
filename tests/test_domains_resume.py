"""A killed run on a host domain (DeepMind Control, Atari) resumes to the result an
uninterrupted run gives, bit for bit: the environments are checkpointed mid-episode."""

import pickle
import signal

import numpy as np
import pytest
from test_resume import COMMON, same_run, start_and_stop

import plastix
from plastix import runs
from plastix.envs import host_env

CASES = [
    (
        "sac",
        "dmc:cartpole-swingup,repeat=8",
        dict(hidden_sizes=(16, 16), batch_size=16),
    ),
    (
        "drq-eps",
        "atari:Pong",
        dict(
            hidden_sizes=(16,),
            batch_size=8,
            conv_channels=(4, 4),
            conv_kernel_sizes=(8, 4),
            conv_strides=(4, 2),
            n_step=3,
        ),
    ),
]


@pytest.mark.parametrize("env", ["dmc:cartpole-swingup", "atari:Pong"])
def test_host_domains_continue_their_episodes_after_pickling(env):
    a = host_env(env, 2)
    a.reset([0, 1])
    b = pickle.loads(pickle.dumps(a))
    actions = np.stack([a.vector_env.single_action_space.sample() for _ in range(2)])
    for _ in range(3):
        x, y = a.step(actions), b.step(actions)
        np.testing.assert_array_equal(x.obs, y.obs)
        np.testing.assert_array_equal(x.reward, y.reward)


@pytest.mark.parametrize("agent, env, options", CASES, ids=["dmc-sac", "atari-drq-eps"])
def test_a_killed_domain_run_resumes_to_the_uninterrupted_result(tmp_path, agent, env, options):
    options = dict(
        COMMON,
        env=env,
        steps=600,
        learning_starts=100,
        eval_every=300,
        eval_episodes=1,
        log_every=100,
        **options,
    )
    out = tmp_path / "killed"
    start_and_stop(agent, options, out, signal.SIGKILL, 2)
    assert runs.run_status(out) == "dead"
    resumed = plastix.resume(out, progress=False)
    assert resumed.summary["status"] == "completed"
    (resumed_at,) = runs.load_summary(out)["resumed_at"]
    assert 0 < resumed_at < options["steps"]
    same_run(resumed, plastix.train(agent, **options))
