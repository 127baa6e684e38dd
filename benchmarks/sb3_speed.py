"""The Stable-Baselines3 (PyTorch) and SBX (JAX) half of benchmarks/speed.py; run by their own
interpreter (``pip install stable-baselines3 sbx-rl`` with a CPU build of torch).

Both step a Gymnasium environment on the host and update once per step (``train_freq=1``,
``gradient_steps=1``). A first ``learn`` of a few hundred steps past the warm-up compiles
SBX's update (and warms PyTorch up); the timed ``learn`` continues the same model. Torch uses
the threads it is given (``torch.set_num_threads`` = the cores this process may use).

Prints one JSON line: {"compile_seconds": null, "steps_per_second": ...}.
"""

import json
import os
import sys
import time


def main():
    spec = json.loads(sys.argv[1])
    library, algo, steps = spec["library"], spec["algo"], spec["steps"]
    if library == "sb3":
        import stable_baselines3 as lib
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
    else:
        import sbx as lib
    cls = {"dqn": lib.DQN, "sac": lib.SAC}[algo]
    kwargs = dict(
        learning_rate=spec["learning_rate"],
        batch_size=spec["batch_size"],
        buffer_size=spec["buffer_size"],
        learning_starts=spec["learning_starts"],
        train_freq=1,
        gradient_steps=1,
        tau=spec["tau"],
        gamma=0.99,
        policy_kwargs={"net_arch": list(spec["hidden"])},
        verbose=0,
        seed=0,
    )
    if algo == "dqn":
        kwargs.update(target_update_interval=1, exploration_fraction=0.5)
        if library == "sb3":  # SB3 clips DQN's gradients at 10 by default; SBX does not clip
            kwargs.update(max_grad_norm=float("inf"))
    model = cls("MlpPolicy", spec["env"], **kwargs)
    model.learn(spec["learning_starts"] + 300)  # compiles (SBX) and warms up
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"compile_seconds": None, "steps_per_second": steps / seconds}))


if __name__ == "__main__":
    main()
