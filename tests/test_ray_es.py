"""The Ray backend of ES: the same parameters as the local backend, bytes that do not grow with
the parameters, and runs that survive a worker's death. One local Ray cluster for the module."""

import pytest

ray = pytest.importorskip("ray")

import plastix  # noqa: E402
from plastix.config import RunConfig  # noqa: E402
from plastix.distributed.ray_es import RayESBackend  # noqa: E402
from plastix.envs import make_env  # noqa: E402
from plastix.es import ESConfig, OpenAIES, params_hash  # noqa: E402
from plastix.plasticity.diagnostics import DiagnosticsConfig  # noqa: E402
from plastix.training.iterative import ESProgram  # noqa: E402
from plastix.training.runner import Runner  # noqa: E402

NO_DIAGNOSTICS = DiagnosticsConfig(every=None)


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def run_es(env, steps, config: ESConfig, backend=None, seeds=1):
    es = OpenAIES(config, make_env(env))
    run = RunConfig(env=env, steps=steps, seeds=seeds, eval_every=1, eval_episodes=2)
    if backend == "local" or backend is None:
        from plastix.es.backends import LocalESBackend

        backend = LocalESBackend(es)
    else:
        backend = backend(es)
    runner = Runner(ESProgram(es, run, backend), run, NO_DIAGNOSTICS, progress=False)
    return runner.execute()


def test_ray_and_local_backends_give_identical_parameters():
    # CartPole's identity is checked by the worker-failure test below; this one adds a
    # continuous task, observation normalisation and two seeds
    env, config = "Pendulum-v1", ESConfig(population=6, hidden_sizes=(16,), obs_norm=True)
    steps = 3 * 6 * 200
    local = run_es(env, steps, config, seeds=2)
    remote = run_es(env, steps, config, lambda es: RayESBackend(es, env, workers=2), seeds=2)
    assert int(local.state.generation[0]) >= 3
    assert params_hash(local.state) == params_hash(remote.state)
    info = remote.summary["backend"]
    assert info["worker_failures"] == 0 and info["workers_joined"] == 2


def test_bytes_per_generation_do_not_grow_with_the_parameters():
    sizes = {}
    for hidden in ((12,), (300, 300)):
        config = ESConfig(population=4, hidden_sizes=hidden)
        result = run_es(
            "CartPole-v1", 1, config, lambda es: RayESBackend(es, "CartPole-v1", workers=2)
        )
        info = result.summary["backend"]
        sizes[info["num_params"]] = (info["bytes_per_generation_max"], info["join_bytes"])
    (small, (small_bytes, small_join)), (big, (big_bytes, big_join)) = sorted(sizes.items())
    assert small < 200 and big > 90_000
    assert big_bytes == small_bytes  # every message is indices and scalars
    assert big_bytes < 10_000
    assert big_join > 4 * big  # the parameters travel once, when a worker joins


def test_a_worker_dying_mid_generation_does_not_change_the_result():
    config = ESConfig(population=8, hidden_sizes=(16,))
    steps = 3_000
    local = run_es("CartPole-v1", steps, config)
    remote = run_es(
        "CartPole-v1",
        steps,
        config,
        lambda es: RayESBackend(es, "CartPole-v1", workers=2, fail_at={0: 2}),
    )
    info = remote.summary["backend"]
    assert info["worker_failures"] == 1
    assert info["reassigned_members"] == 4  # its share of the 8 members
    assert info["workers_joined"] == 3  # two at the start, one replacement
    assert params_hash(local.state) == params_hash(remote.state)
    workers = remote.metrics[remote.metrics.metric == "workers"].value
    assert workers.min() == 2


def test_train_with_the_ray_backend_stores_its_bookkeeping(tmp_path):
    plastix.train(
        "es",
        env="CartPole-v1",
        steps=2_000,
        backend="ray",
        workers=2,
        population=8,
        hidden_sizes=(8,),
        progress=False,
        diagnostics=NO_DIAGNOSTICS,
        out=tmp_path / "r",
    )
    summary = plastix.runs.load_summary(tmp_path / "r")
    assert summary["backend"]["kind"] == "ray" and summary["status"] == "completed"
    assert summary["backend"]["bytes_per_generation_mean"] > 0
    assert ray.is_initialized()  # a cluster it did not start is left running
