"""``plastix icrl data | train | eval``: the in-context RL pipeline on the command line."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro
from rich.console import Console

from plastix.console import fail, progress_bar
from plastix.errors import INTERRUPTED, ConfigError
from plastix.icrl.report import EvalConfig
from plastix.icrl.tasks import Family, FamilyConfig, SourceConfig
from plastix.icrl.training import ModelConfig, Terminated, TrainConfig

USAGE = """\
usage: plastix icrl COMMAND [options]

in-context RL: Algorithm Distillation (AD) and the Decision-Pretrained Transformer (DPT).

commands:
  data --family F --source S --tasks N --out DIR
                   record learning histories of a source algorithm on N training tasks
  train --data DIR --method ad|dpt --out DIR [--resume]
                   train a causal transformer on a dataset (checkpointed, resumable)
  eval RUN --out DIR
                   roll the frozen model out on held-out tasks; table, curves, report.md

families: bandit (--arms, --kind, --sigma, --means), darkroom, keytodoor, xland (needs xminigrid).
e.g.  plastix icrl data --family bandit --arms 5 --source thompson --tasks 20000 --out d5
      plastix icrl train --data d5 --method ad --out ad5
      plastix icrl eval ad5 --out ad5/eval
each command: --help for all options.
"""


def _fail(message: str) -> int:
    return fail(message)


def _empty_or_new(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose another --out")
    return out


def cmd_data(argv: list[str]) -> int:
    from plastix.icrl import data

    @dataclass(frozen=True)
    class DataArgs:
        out: str
        """folder for the dataset (must not exist or be empty)."""
        family: Annotated[FamilyConfig, tyro.conf.OmitArgPrefixes] = field(
            default_factory=FamilyConfig
        )
        source: Annotated[SourceConfig, tyro.conf.OmitArgPrefixes] = field(
            default_factory=SourceConfig
        )
        tasks: int = 1000
        """learning histories to record (tasks cycle through the split's list where it is
        finite: darkroom has 64 training goals, so 1024 histories = 16 per goal)."""
        split: str = "train"
        """train or test."""
        seed: int = 0

    args = tyro.cli(DataArgs, args=argv, prog="plastix icrl data")
    console = Console(stderr=True)
    try:
        out = _empty_or_new(args.out)
        family = Family(args.family)
        family.history_fn(family.check_source(args.source.source), args.source)  # checks
        with progress_bar(console, "histories", ("info",)) as bar:
            task = bar.add_task("recording", total=args.tasks, info="")
            arrays, meta = data.generate(
                family,
                args.source,
                args.tasks,
                args.seed,
                args.split,
                progress=lambda done, total: bar.update(task, completed=done),
            )
        data.save(out, arrays, meta)
    except (ConfigError, FileExistsError, ImportError) as e:
        return _fail(str(e))
    console.print(
        f"{meta['num_tasks']} histories of {meta['steps_per_history']} steps "
        f"({meta['source']} on {family.env.name}) written to [bold]{out}[/]"
    )
    return 0


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM stops training as Ctrl-C does: the checkpoint and an ``interrupted`` status."""

    def interrupt(signum, frame):
        raise Terminated

    if threading.current_thread() is not threading.main_thread():  # only it may set handlers
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_train(argv: list[str]) -> int:
    from plastix.icrl import data, training

    @dataclass(frozen=True)
    class TrainArgs:
        data: str
        """dataset folder (from plastix icrl data)."""
        out: str
        """folder for the training run."""
        model: Annotated[ModelConfig, tyro.conf.OmitArgPrefixes] = field(
            default_factory=ModelConfig
        )
        train: Annotated[TrainConfig, tyro.conf.OmitArgPrefixes] = field(
            default_factory=TrainConfig
        )
        resume: bool = False
        """continue the run in --out from its checkpoint."""

    args = tyro.cli(TrainArgs, args=argv, prog="plastix icrl train")
    console = Console(stderr=True)
    try:
        out = Path(args.out) if args.resume else _empty_or_new(args.out)
        if args.resume and not (out / training.CHECKPOINT).exists():
            raise ConfigError(f"--resume: {out} holds no checkpoint to continue from")
        arrays, meta = data.load(args.data)
        with progress_bar(console, "steps", ("info",)) as bar:
            task = bar.add_task(args.model.method.upper(), total=args.train.steps, info="")

            def report(step, loss):
                bar.update(task, completed=step, info=f"loss {loss:.3f}")

            with sigterm_as_interrupt():
                _, losses = training.train(
                    arrays, meta, args.model, args.train, out, progress=report, resume=args.resume
                )
    except (ConfigError, FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    except KeyboardInterrupt as e:
        summary = json.loads((out / "summary.json").read_text())
        console.print(
            f"interrupted at step {summary['steps_done']:,} of {summary['steps']:,}; the "
            f"checkpoint is kept: [bold]plastix icrl train ... --out {out} --resume[/] continues"
        )
        return 128 + signal.SIGTERM if isinstance(e, Terminated) else INTERRUPTED
    console.print(f"final loss {losses[-1][1]:.4f}; run written to [bold]{out}[/]")
    return 0


def cmd_eval(argv: list[str]) -> int:
    from plastix.icrl.report import evaluate_run

    @dataclass(frozen=True)
    class EvalArgs:
        run: tyro.conf.Positional[str]
        """training run folder (from plastix icrl train)."""
        out: str
        """folder for report.md, results.json, curves.csv, curve.png."""
        eval: Annotated[EvalConfig, tyro.conf.OmitArgPrefixes] = field(default_factory=EvalConfig)

    args = tyro.cli(EvalArgs, args=argv, prog="plastix icrl eval")
    console = Console(stderr=True)
    try:
        out = _empty_or_new(args.out)
        with console.status("evaluating ...") as status:
            results = evaluate_run(
                args.run, args.eval, out, status=lambda text: status.update(text)
            )
    except (ConfigError, FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    print((out / "report.md").read_text())
    console.print(f"evaluated in {results['seconds']:.0f} s; written to [bold]{out}[/]")
    return 0


COMMANDS = {"data": cmd_data, "train": cmd_train, "eval": cmd_eval}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] not in COMMANDS:
        return _fail(f"unknown icrl command {argv[0]!r}; valid choices: {', '.join(COMMANDS)}")
    return COMMANDS[argv[0]](argv[1:])
