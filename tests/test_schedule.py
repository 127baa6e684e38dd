import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plastix
from plastix.cli import main
from plastix.plasticity.augment import shift_by
from plastix.plasticity.config import (
    AugmentConfig,
    InjectConfig,
    PlasticityConfig,
    PrimeConfig,
    ReDoConfig,
    ReplayScheduleConfig,
    ResetConfig,
    ShrinkPerturbConfig,
)
from plastix.plasticity.diagnostics import DiagnosticsConfig
from plastix.plasticity.replay_ratio import ReplayRatioSchedule

TINY = dict(
    steps=800,
    eval_every=800,
    eval_episodes=1,
    log_every=200,
    progress=False,
    hidden_sizes=(16,),
    batch_size=16,
    learning_starts=100,
)


def logged(result, metric):
    m = result.metrics
    return m[m.metric == metric].pivot_table(index="step", columns="seed", values="value")


def test_random_shift_hand_computed():
    image = jnp.arange(9.0).reshape(1, 3, 3, 1)
    # offset (pad, pad) is the identity
    np.testing.assert_array_equal(shift_by(image, jnp.array([[1, 1]]), 1), image)
    # offset (0, 0): the window starts one replicated row and column up-left
    expected = jnp.array([[0, 0, 1], [0, 0, 1], [3, 3, 4]], jnp.float32).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(shift_by(image, jnp.array([[0, 0]]), 1), expected)
    # offset (2, 1): one row down
    expected = jnp.array([[3, 4, 5], [6, 7, 8], [6, 7, 8]], jnp.float32).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(shift_by(image, jnp.array([[2, 1]]), 1), expected)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--reset.every", "0"], "reset.every must be a positive interval, got 0"),
        (
            ["--reset.every", "100", "--reset.layers", "critc"],
            "unknown layer selector 'critc'; valid choices: all, encoder, no-encoder",
        ),
        (["--redo.every", "100", "--redo.tau", "-0.5"], "redo.tau (τ) must be >= 0"),
        (["--augment.pad", "1"], "augment.pad needs image observations"),
        (["--replay-schedule.kind", "steps"], "needs as many --replay-schedule.at"),
        (["--inject.at", "0"], "inject.at must be a positive environment step, got 0"),
        (
            ["--inject.at", "100", "--inject.networks", "actor"],
            "dqn has no network 'actor' to inject into; valid choices: critic",
        ),
    ],
)
def test_bad_intervention_options_exit_2(capsys, argv, message):
    try:
        code = main(["train", "dqn", "--env", "CartPole-v1", "--no-progress", *argv])
    except SystemExit as e:
        code = e.code
    assert code == 2
    assert message in " ".join(capsys.readouterr().err.replace("│", " ").split())


def test_step_schedule_sets_the_ratio_and_the_update_count():
    schedule = ReplayScheduleConfig(kind="steps", at=(400,), values=(2.0,))
    result = plastix.train(
        "dqn",
        "CartPole-v1",
        replay_ratio=0.5,
        plasticity=PlasticityConfig(replay_schedule=schedule),
        **TINY,
    )
    ratios = logged(result, "replay_ratio")[0]
    assert ratios[200] == 0.5 and ratios[400] == 2.0 and ratios[600] == 2.0
    # steps 100..400 at 0.5 (301 steps), steps 401..800 at 2 (400 steps)
    assert int(result.state.agent.num_updates[0]) == int(0.5 * 301) + 2 * 400


def test_adaptive_replay_ratio_switches_once_when_fau_settles():
    # threshold 1: any change counts as settled, so each seed switches at its first check
    # (CartPole's episodes are short: a check every 5 episodes falls within the run)
    schedule = ReplayScheduleConfig(
        kind="adaptive", low=0.5, high=4.0, check_episodes=5, threshold=1.0
    )
    result = plastix.train(
        "dqn", "CartPole-v1", seeds=2, plasticity=PlasticityConfig(replay_schedule=schedule), **TINY
    )
    ratios = logged(result, "replay_ratio")
    switches = result.summary["replay_ratio_switch_steps"]
    assert all(s is not None for s in switches)
    for k, at in enumerate(switches):
        # 0.5 before the switch, 4 from it on; the switch is logged at its check only
        assert (ratios[k][ratios.index < at] == 0.5).all()
        assert (ratios[k][ratios.index >= at] == 4.0).all()
        checks = logged(result, "arr/switch")[k].dropna()
        assert checks.loc[at] == 1.0 and (checks.drop(at) == 0.0).all()
    # the FAU it compares is the critic's on its own training batches
    assert logged(result, "arr/critic_fau").notna().any().all()
    fau = logged(result, "critic_train_fau").to_numpy()
    assert ((fau > 0) & (fau < 1)).all()


class AfterStep(ReplayRatioSchedule):
    """A user's own trigger: ratio 3 from step 600 on."""

    def check_steps(self):
        return [600]

    def update(self, step, ratios, critic_fau):
        return np.full_like(ratios, 3.0) if step >= 600 else ratios


def test_a_user_schedule_object_drives_the_ratio():
    result = plastix.train("dqn", "CartPole-v1", replay_schedule=AfterStep(1.0), **TINY)
    ratios = logged(result, "replay_ratio")[0]
    assert ratios[400] == 1.0 and ratios[600] == 3.0
    assert int(result.state.agent.num_updates[0]) == (600 - 100 + 1) + 3 * 200


def test_interventions_combine_and_keep_the_replay_buffer():
    plasticity = PlasticityConfig(
        reset=ResetConfig(every=400, layers="critic/head"),
        shrink_perturb=ShrinkPerturbConfig(every=400),
        redo=ReDoConfig(every=200, unit="steps", tau=0.1),
    )
    result = plastix.train(
        "dqn",
        "CartPole-v1",
        seeds=2,
        plasticity=plasticity,
        diagnostics=DiagnosticsConfig(every=400),
        **TINY,
    )
    # nothing acts after the last step (the stored networks are the evaluated ones)
    assert list(logged(result, "intervention/reset").index) == [400]
    assert list(logged(result, "intervention/shrink_perturb").index) == [400]
    assert list(logged(result, "intervention/redo").index) == [200, 400, 600]
    # the buffer still holds every transition (800 < capacity): resets do not clear it
    np.testing.assert_array_equal(result.state.buffer.size, [800, 800])
    assert result.summary["status"] == "completed"


def test_augmentation_switches_on_and_off_at_the_given_steps():
    result = plastix.train(
        "dqn",
        "MinAtar-Breakout",
        conv_channels=(2,),
        plasticity=PlasticityConfig(augment=AugmentConfig(pad=1, start=400, stop=600)),
        **TINY,
    )
    flags = logged(result, "augment")[0]
    assert [flags[s] for s in (200, 400, 600)] == [0.0, 1.0, 0.0]


def test_stored_plasticity_config_reruns(tmp_path):
    plasticity = PlasticityConfig(reset=ResetConfig(every=400, layers="last:1"))
    first = plastix.train("dqn", "CartPole-v1", out=tmp_path / "a", plasticity=plasticity, **TINY)
    again = plastix.rerun(tmp_path / "a", progress=False)
    for x, y in zip(
        jax.tree.leaves(first.state.agent.params),
        jax.tree.leaves(again.state.agent.params),
        strict=True,
    ):
        np.testing.assert_array_equal(x, y)


def test_injection_at_a_step_keeps_the_run_going_and_reloads(tmp_path):
    plasticity = PlasticityConfig(inject=InjectConfig(at=400))
    result = plastix.train(
        "dqn", "CartPole-v1", out=tmp_path / "inj", plasticity=plasticity, **TINY
    )
    assert list(logged(result, "intervention/inject").index) == [400]
    critic = result.state.agent.params["critic"]
    # after the injection only the new copy θ1′ learned: θ2′ still holds its injected values,
    # θ1′ moved away from them
    moved = [
        bool(np.any(np.asarray(a) != np.asarray(b)))
        for a, b in zip(
            jax.tree.leaves(critic["injected"]),
            jax.tree.leaves(critic["injected_frozen"]),
            strict=True,
        )
    ]
    assert all(moved)
    policy = plastix.load_policy(tmp_path / "inj")
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    np.testing.assert_array_equal(policy.predict(obs), result.predict(obs))


def test_priming_adds_its_updates_at_its_step():
    plasticity = PlasticityConfig(prime=PrimeConfig(at=200, updates=500))
    result = plastix.train("dqn", "CartPole-v1", plasticity=plasticity, seeds=2, **TINY)
    assert list(logged(result, "intervention/prime").index) == [200]
    updates = logged(result, "updates")[0]
    plain = plastix.train("dqn", "CartPole-v1", seeds=2, **TINY)
    baseline = logged(plain, "updates")[0]
    # the counts are logged before the step's interventions run: priming shows from step 400
    assert updates[200] == baseline[200]
    assert updates[400] == baseline[400] + 500
    assert updates[800] == baseline[800] + 500
