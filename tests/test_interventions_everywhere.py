"""Every intervention on every algorithm whose program can take it: PPO and REINFORCE (actor and
critic) as DQN and SAC; a cure registered from outside plastix; policies loaded for every
algorithm."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plastix
from plastix import api, optim
from plastix.cli import main
from plastix.keys import Stream, derive_keys, seed_keys
from plastix.plasticity.config import InjectConfig, PlasticityConfig, ResetConfig
from plastix.plasticity.interventions import REGISTRY, Moment

QUIET = dict(progress=False, eval_episodes=2)


def logged(metrics, metric):
    return metrics[metrics.metric == metric].pivot_table(
        index="step", columns="seed", values="value"
    )


def test_reset_redo_and_shrink_perturb_on_ppo_through_the_cli(tmp_path):
    out = tmp_path / "ppo"
    argv = ["train", "ppo", "--env", "CartPole-v1", "--steps", "4096", "--seeds", "2"]
    argv += ["--eval-every", "2048", "--eval-episodes", "2", "--diagnostics.every", "1024"]
    argv += ["--reset.every", "2048", "--reset.layers", "critic"]
    argv += ["--redo.every", "1024", "--redo.unit", "steps", "--redo.tau", "0.5"]
    argv += ["--shrink-perturb.every", "2048", "--shrink-perturb.layers", "actor"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    metrics = plastix.load_runs(out)
    assert list(logged(metrics, "intervention/reset").index) == [2048]
    assert list(logged(metrics, "intervention/shrink_perturb").index) == [2048]
    assert list(logged(metrics, "intervention/redo").index) == [1024, 2048, 3072]
    for network in ("actor", "critic"):
        for name in ("fau", "dormant", "erank", "weight_norm", "distance_from_init"):
            values = logged(metrics, f"{network}/{name}")
            assert list(values.index) == [1024, 2048, 3072, 4096], (network, name)
            assert np.isfinite(values.to_numpy()).all()
    assert plastix.read_record(out).plasticity.reset == ResetConfig(every=2048, layers="critic")


@pytest.mark.parametrize(
    "agent, options",
    [("ppo", {"rollout_steps": 16}), ("reinforce", {"episodes_per_iteration": 2})],
)
def test_a_reset_renews_the_critic_and_restarts_its_adam_statistics(agent, options):
    config = api.agent_config(agent, {"hidden_sizes": (8,), **options})
    run = plastix.RunConfig(steps=640, seeds=2, eval_every=640, log_every=64)
    plasticity = PlasticityConfig(reset=ResetConfig(every=1, unit="updates", layers="critic"))
    runner = api.prepare(agent, config, run, progress=False, plasticity=plasticity)
    program = runner.program
    state = program.init(runner.keys)
    program.compile(state, {1})
    state, chunk = program.advance(state, 1, 0)
    now = program.clock.now(1, chunk.steps)
    moment = Moment(int(chunk.steps.min()), now, 0, program.updates(state), program.clock.units)
    new, logged_values = runner.scheduler.apply(state, moment, runner.keys)
    np.testing.assert_array_equal(logged_values["intervention/reset"], [1.0, 1.0])
    # the critic takes the fresh values of the reset's key stream; the actor keeps its own
    keys = derive_keys(seed_keys(0, 2), Stream.RESET, 1)
    fresh = jax.vmap(program.agent.init)(keys).params
    for a, b in zip(
        jax.tree.leaves(new.params["critic"]), jax.tree.leaves(fresh["critic"]), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        jax.tree.leaves(new.params["actor"]), jax.tree.leaves(state.params["actor"]), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    (old_adam,) = optim.find_adam_states(state.opt_state)
    (adam,) = optim.find_adam_states(new.opt_state)
    assert all(int(c.max()) == 0 for c in jax.tree.leaves(adam.count["critic"]))
    assert all(float(jnp.abs(m).max()) == 0 for m in jax.tree.leaves(adam.mu["critic"]))
    for a, b in zip(
        jax.tree.leaves(adam.mu["actor"]), jax.tree.leaves(old_adam.mu["actor"]), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert all(int(c.min()) > 0 for c in jax.tree.leaves(adam.count["actor"]))


def test_injection_into_ppo_keeps_training_only_the_new_copy():
    result = plastix.train(
        "ppo",
        "CartPole-v1",
        steps=2048,
        eval_every=2048,
        hidden_sizes=(8,),
        plasticity=PlasticityConfig(inject=InjectConfig(at=1024, networks="actor,critic")),
        **QUIET,
    )
    assert list(logged(result.metrics, "intervention/inject").index) == [1024]
    params = result.state.params
    switches = result.state.opt_state.trainable
    for network in ("actor", "critic"):
        moved = jax.tree.map(
            lambda a, b: bool(jnp.any(a != b)),
            params[network]["injected"],
            params[network]["injected_frozen"],
        )
        assert all(jax.tree.leaves(moved))  # θ1′ learned after the injection, θ2′ did not
        assert not any(bool(t.any()) for t in jax.tree.leaves(switches[network]["torso"]))
        assert all(bool(t.all()) for t in jax.tree.leaves(switches[network]["injected"]))


@pytest.mark.parametrize(
    "agent, options",
    [
        ("ppo", dict(hidden_sizes=(8,))),
        ("es", dict(population=4, hidden_sizes=(4,), obs_norm=True)),
    ],
)
def test_load_policy_acts_like_the_trained_policy(tmp_path, agent, options):
    out = tmp_path / agent
    result = plastix.train(
        agent, "CartPole-v1", steps=1024, seeds=2, eval_every=1024, out=out, **QUIET, **options
    )
    policy = plastix.load_policy(out)
    obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    for seed in (0, 1):
        np.testing.assert_array_equal(
            policy.predict(obs, seed=seed), result.predict(obs, seed=seed)
        )
    assert policy.predict(obs[0]).shape == ()


# a cure from outside plastix ----------------------------------------------------------------


@dataclass(frozen=True)
class ZeroHeadConfig:
    at: int | None = None
    """environment step after which the head is zeroed and frozen."""
    network: str = "critic"
    """the network whose head it is."""


class ZeroHead(plastix.Intervention):
    """Zeroes a network's head and freezes it in the optimizer (a toy cure)."""

    name = "zero_head"
    Config = ZeroHeadConfig
    step_fields = ("at",)

    def intervals(self):
        return [self.config.at]

    def due(self, moment):
        return moment.all(moment.reached(self.config.at))

    def act(self, state, key):
        view = self.target.agent_state(state)
        net = self.config.network
        head = jax.tree.map(jnp.zeros_like, view.params[net]["head"])
        params = {**view.params, net: {**view.params[net], "head": head}}

        def off(switches):
            return {**switches, "head": jax.tree.map(jnp.zeros_like, switches["head"])}

        if isinstance(view.opt_state, dict):  # one optimizer state per network
            opt_state = {**view.opt_state, net: view.opt_state[net]}
            switches = off(opt_state[net].trainable)
            opt_state[net] = optim.set_trainable(opt_state[net], switches)
        else:
            trainable = dict(view.opt_state.trainable)
            trainable[net] = off(trainable[net])
            opt_state = optim.set_trainable(view.opt_state, trainable)
        return view.replace(params=params, opt_state=opt_state)


@pytest.fixture
def zero_head():
    plastix.register_intervention(ZeroHead)
    try:
        yield
    finally:
        REGISTRY.pop("zero_head")


@pytest.mark.parametrize("agent", ["dqn", "ppo"])
def test_an_intervention_registered_from_outside_acts_on_every_agent(zero_head, tmp_path, agent):
    options = dict(hidden_sizes=(8,))
    if agent == "dqn":
        options.update(learning_starts=100, batch_size=16)
    plasticity = PlasticityConfig(zero_head=ZeroHeadConfig(at=512))
    result = plastix.train(
        agent,
        "CartPole-v1",
        steps=1024,
        eval_every=1024,
        log_every=256,
        out=tmp_path / agent,
        plasticity=plasticity,
        **QUIET,
        **options,
    )
    assert list(logged(result.metrics, "intervention/zero_head").index) == [512]
    critic = (
        result.state.agent.params["critic"] if agent == "dqn" else result.state.params["critic"]
    )
    assert all(float(jnp.abs(x).max()) == 0 for x in jax.tree.leaves(critic["head"]))
    assert any(float(jnp.abs(x).max()) > 0 for x in jax.tree.leaves(critic["torso"]))
    # the run record names it, and the run reruns from the record
    assert plastix.read_record(tmp_path / agent).plasticity.zero_head == ZeroHeadConfig(at=512)
    again = plastix.rerun(tmp_path / agent, progress=False)
    np.testing.assert_array_equal(
        logged(again.metrics, "eval_return").to_numpy(),
        logged(result.metrics, "eval_return").to_numpy(),
    )


def test_the_command_line_offers_a_registered_intervention(zero_head, capsys):
    with pytest.raises(SystemExit):
        main(["train", "dqn", "--help"])
    assert "--zero-head.at" in capsys.readouterr().out
