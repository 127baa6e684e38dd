"""The commands of the ``plastix`` command line and its usage text."""

from __future__ import annotations

from plastix.algorithms import ALGORITHMS
from plastix.cli import misc, probe, runs, sweep, train

USAGE = """\
usage: plastix COMMAND [options]

plastix: plasticity loss and its cures in deep RL, on JAX.

commands:
  train AGENT [options]   train an agent (many seeds at once) and store the run
                          agents: {agents}
                          e.g. plastix train dqn --env CartPole-v1 --steps 100000 \\
                                 --replay-ratio 1 --seeds 5 --out runs/x
                          all options of an agent: plastix train AGENT --help
  rerun RUN [--out DIR] [--overwrite]
                          run again a stored run from its config.json
  resume RUN [--steps N]  continue a stored run (killed, interrupted or finished) from its
                          last checkpoint, to the result an uninterrupted run gives
  ls PATH...              list the runs at or below PATH with their results
  plot RUN... --out DIR [--metrics M ...]
                          PNG curves of return, losses and plasticity diagnostics over
                          steps, one line per run (mean over seeds, band: min-max)
  report RUN... --out DIR [--metric eval_return] [--last N]
                          Markdown report: IQM / mean / median with bootstrap CIs,
                          probability of improvement, curves, diagnostics, bar charts
  experiment NAME [--scale small|medium|paper] [--seeds N] [--out DIR]
                          run a named experiment and report its claims: {experiments}
                          [--backend local|ray] [--address ADDR] [--gpus-per-task F]
  sweep AGENT --grid NAME=V1,V2 [NAME=...] --out DIR [train options] [--backend ray]
                          the grid's cartesian product, one run directory per point
  demo                    heavy priming and resets on CartPole, a few minutes on a CPU
  gradient-variance [--env ID] [--batch-sizes B ...] [--out DIR]
                          variance of the REINFORCE gradient per baseline and batch size
  icrl data|train|eval    in-context RL: record learning histories, train AD / DPT,
                          evaluate in context on held-out tasks (plastix icrl --help)
  probe bitflip|digits [options]
                          supervised plasticity probe (slowly-changing regression,
                          permuted digits), seeds vmapped, with any built-in cure
                          (--l2-init.coef, --crelu.on, ...; plastix probe bitflip --help)
  envs                    list the environments

environments: jittable gymnax ids (see `plastix envs`), or any Gymnasium id as gymnasium:ID.
Python: plastix.train("dqn", env="CartPole-v1", steps=100_000, seeds=5, out="runs/x").
"""

COMMANDS = {
    "train": train.cmd_train,
    "rerun": train.cmd_rerun,
    "resume": train.cmd_resume,
    "ls": runs.cmd_ls,
    "plot": runs.cmd_plot,
    "report": runs.cmd_report,
    "experiment": misc.cmd_experiment,
    "sweep": sweep.cmd_sweep,
    "demo": misc.cmd_demo,
    "gradient-variance": misc.cmd_gradient_variance,
    "icrl": misc.cmd_icrl,
    "probe": probe.cmd_probe,
    "envs": misc.cmd_envs,
}


def usage() -> str:
    from plastix.experiments import EXPERIMENTS

    return USAGE.format(agents=", ".join(sorted(ALGORITHMS)), experiments=", ".join(EXPERIMENTS))
