"""The Adaptive Replay Ratio's switch as Ma et al. 2024 define it: the critic's FAU averaged over
the batches it trained on since the last check, checked on an episode count.

A check decides "settled" (switch) or "still changing" (stay). On a stationary setting every
"still changing" is a false call made by noise; on a drifting FAU every "settled" during the
drift is one."""

import jax
import jax.numpy as jnp
import numpy as np

import plastix
from plastix.plasticity.replay_ratio import AdaptiveReplayRatio

THRESHOLD = 0.001  # Ma et al.'s Phi_gap


def run_checks(schedule, batch_fau: np.ndarray, updates_per_episode: int):
    """Feeds ``batch_fau`` [seeds, batches], one episode of ``updates_per_episode`` updates per
    chunk, as the runner does; returns every seed's switch step (one step per batch) and the
    FAU change measured at each check ([checks, seeds])."""
    seeds, batches = batch_fau.shape
    ratios, changes = np.full(seeds, schedule.initial()), []
    for start in range(0, batches, updates_per_episode):
        chunk = batch_fau[:, start : start + updates_per_episode]
        schedule.observe(np.ones(seeds), np.full(seeds, chunk.shape[1]), chunk.mean(axis=1))
        ratios = schedule.update(start + chunk.shape[1], ratios, critic_fau=None)
        if schedule.logs:
            changes.append(schedule.logs["arr/fau_change"])
    return schedule.switch_steps(), np.array(changes)


def stationary_batch_fau(batches: int) -> np.ndarray:
    """The critic's FAU on ``batches`` replay batches of 256 with nothing learning: the SAC
    critic of a short Pendulum run (the ARR experiment's 64-64 networks), frozen, on its own
    frozen buffer."""
    result = plastix.train(
        "sac", "Pendulum-v1", steps=1_000, hidden_sizes=(64, 64), progress=False, eval_every=1_000
    )
    program, state = result.program, jax.tree.map(lambda x: x[0], result.state)
    agent = program.agent

    def fau(key):
        batch = program.learner.memory.sample(state.buffer, key, 256, 1, agent.config.gamma)
        action = agent.from_env(batch.action)
        return agent.critic_values(state.agent.params["critic"], batch.obs, action)[1]

    keys = jax.random.split(jax.random.key(0), batches)
    return np.asarray(jax.jit(lambda k: jax.lax.map(fau, k, batch_size=250))(keys))


def test_on_a_stationary_setting_noise_calls_a_change_in_under_5_percent_of_checks():
    per_episode, check_episodes, checks = 50, 5, 40
    fau = stationary_batch_fau(per_episode * check_episodes * checks)
    schedule = AdaptiveReplayRatio(0.5, 2.0, check_episodes, THRESHOLD)
    switches, changes = run_checks(schedule, fau[None], per_episode)
    # every check after the first compares two averages of 250 batches: noise almost never
    # makes them differ by more than the threshold (the first compares with the first
    # episode's updates, as the reference code compares with its first batch)
    assert (changes[1:, 0] > THRESHOLD).mean() < 0.05
    assert switches[0] is not None
    # one batch per check (what plastix did before): most checks call a change that is noise
    single = np.abs(np.diff(fau[:: per_episode * check_episodes])) > THRESHOLD
    assert single.mean() > 0.5, single.mean()


def test_on_a_drifting_fau_it_switches_once_the_drift_stops():
    rng = np.random.default_rng(0)
    per_episode, check_episodes, seeds = 100, 5, 8
    per_check = per_episode * check_episodes
    drifting, still = 10, 6  # checks
    # the FAU falls by 0.01 per check interval, then holds; batch noise as measured (σ 0.0034)
    drift = np.linspace(0.0, -0.01 * drifting, drifting * per_check, endpoint=False)
    level = np.concatenate([0.5 + drift, np.full(still * per_check, 0.5 - 0.01 * drifting)])
    fau = level + rng.normal(0.0, 0.0034, (seeds, level.size))
    schedule = AdaptiveReplayRatio(0.5, 2.0, check_episodes, THRESHOLD)
    switches, _ = run_checks(schedule, fau, per_episode)
    # never while drifting; at the first check whose own window and predecessor's both lie
    # after the drift (the 12th: the 11th still compares with the last drifting window)
    assert switches == [(drifting + 2) * per_check] * seeds


def test_the_last_episode_window_averages_only_the_episode_before_the_check():
    schedule = AdaptiveReplayRatio(0.5, 2.0, check_episodes=3, threshold=1.0, window="last-episode")
    ratios = np.full(1, 0.5)
    for episode, value in enumerate([0.9, 0.1, 0.1, 0.6], start=1):
        schedule.observe(np.ones(1), np.full(1, 10), np.full(1, value))
        ratios = schedule.update(episode * 10, ratios, critic_fau=None)
        if episode == 3:
            # the third episode's batches alone (the reference code restarts its sum one
            # episode before the check); the first updates' FAU (0.9) is the baseline
            np.testing.assert_allclose(schedule.logs["arr/critic_fau"], [0.1])
            np.testing.assert_allclose(schedule.logs["arr/fau_change"], [0.8])
    since = AdaptiveReplayRatio(0.5, 2.0, check_episodes=3, threshold=1.0)
    for episode, value in enumerate([0.9, 0.1, 0.2], start=1):
        since.observe(np.ones(1), np.full(1, 10), np.full(1, value))
        since.update(episode * 10, np.full(1, 0.5), critic_fau=None)
    # the first episode's updates are the reference, not part of the first check's average
    np.testing.assert_allclose(since.logs["arr/critic_fau"], [0.15])
    np.testing.assert_allclose(since.logs["arr/fau_change"], [0.75])


def test_the_first_check_does_not_compare_the_reference_with_itself():
    # the first chunk with updates ends at the first check: nothing else to average yet, so
    # no comparison (before this was fixed every seed switched there, with a change of 0)
    schedule = AdaptiveReplayRatio(0.5, 2.0, check_episodes=5, threshold=0.001)
    schedule.observe(np.full(2, 5), np.full(2, 450), np.full(2, 0.7))
    assert (schedule.update(1000, np.full(2, 0.5), critic_fau=None) == 0.5).all()
    assert np.isnan(schedule.logs["arr/critic_fau"]).all()
    schedule.observe(np.full(2, 5), np.full(2, 500), np.array([0.7, 0.8]))
    ratios = schedule.update(2000, np.full(2, 0.5), critic_fau=None)
    np.testing.assert_array_equal(ratios, [2.0, 0.5])
    assert schedule.switch_steps() == [2000, None]


def test_the_training_fau_counts_both_critics_mlp_layers_on_the_trained_batch():
    result = plastix.train(
        "sac", "Pendulum-v1", steps=300, hidden_sizes=(8,), progress=False, eval_every=300
    )
    agent, state = result.program.agent, jax.tree.map(lambda x: x[0], result.state)
    params = state.agent.params["critic"]
    obs = jax.random.normal(jax.random.key(1), (32, 3))
    action = jnp.zeros((32, 1))
    _, fau = agent.critic_values(params, obs, action)
    acts = agent.activations(state.agent, type("B", (), {"obs": obs, "action": action})())
    by_hand = np.mean([np.mean(np.asarray(layer["torso/dense_0"]) > 0) for layer in acts["critic"]])
    np.testing.assert_allclose(float(fau), by_hand, rtol=1e-6)
