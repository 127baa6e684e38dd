"""The PureJaxRL half of benchmarks/speed.py; run by PureJaxRL's own interpreter.

PureJaxRL is a folder of scripts, not a package: the spec's ``purejaxrl`` names a checkout of
https://github.com/luchris429/purejaxrl, whose ``purejaxrl/dqn.py`` or ``ppo.py`` is imported
as it is and its ``make_train(config)`` compiled. Its environment needs
``jax flax optax chex distrax flashbax wandb six "gymnax<1"`` (the scripts use gymnax's
pre-1.0 five-value ``step``). Set from outside, nothing edited: the DQN's Q-network widths (the
script fixes 120-84; ``hidden`` replaces its ``QNetwork``), ``jax.tree_map`` (which newer JAX
removed; aliased to ``jax.tree.map``), and empty stand-ins for ``brax`` and ``navix``, which
``wrappers.py`` imports for environments not used here.

Prints one JSON line: {"compile_seconds": ..., "steps_per_second": ...}.
"""

import json
import sys
import types
from pathlib import Path

import flax.linen as nn
import jax
from peer_timing import compile_and_run


def stand_ins():
    training = types.ModuleType("brax.envs.wrappers.training")
    training.EpisodeWrapper = training.AutoResetWrapper = object
    for name in ("brax", "brax.envs", "brax.envs.wrappers", "navix"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules.setdefault("brax.envs.wrappers.training", training)
    sys.modules["brax"].envs = sys.modules["brax.envs"]


def main():
    spec = json.loads(sys.argv[1])
    sys.path.insert(0, str(Path(spec.pop("purejaxrl")) / "purejaxrl"))
    jax.tree_map = jax.tree.map
    algo = spec.pop("algo")
    if algo == "ppo":
        stand_ins()
        import ppo as script
    else:
        import dqn as script

        hidden = tuple(spec.pop("hidden"))

        class QNetwork(nn.Module):
            action_dim: int

            @nn.compact
            def __call__(self, x):
                for width in hidden:
                    x = nn.relu(nn.Dense(width)(x))
                return nn.Dense(self.action_dim)(x)

        script.QNetwork = QNetwork
    seeds = spec.pop("seeds", 1)
    train = jax.jit(jax.vmap(script.make_train(spec)))
    keys = jax.random.split(jax.random.key(0), seeds)
    compile_seconds, seconds = compile_and_run(train, keys)
    steps = spec["TOTAL_TIMESTEPS"] * seeds  # PPO: its whole iterations, as make_train runs
    if algo == "ppo":
        per_iteration = spec["NUM_ENVS"] * spec["NUM_STEPS"]
        steps = spec["TOTAL_TIMESTEPS"] // per_iteration * per_iteration * seeds
    print(json.dumps({"compile_seconds": compile_seconds, "steps_per_second": steps / seconds}))


if __name__ == "__main__":
    main()
