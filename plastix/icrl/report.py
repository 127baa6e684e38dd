"""``plastix icrl eval``: evaluate a trained model on held-out tasks and write the report.

Bandits: cumulative pseudo-regret after ``horizon`` pulls of the model, UCB, Thompson sampling
and a uniform random policy on the same held-out tasks (mean with a 95% bootstrap interval over
tasks, and the model's ratios to each), and the regret curves.

Episodic families: the model's return in every in-context episode (mean over roll-outs with a
95% bootstrap band), the source algorithm learning from scratch on the same held-out tasks, and
a random policy; the first episode against the last ones; how many episodes the model and the
source need to reach the source's final return (mean of its last 10 episodes) and 90% of it.

Written to ``out``: ``report.md``, ``results.json``, ``curves.csv`` and ``curve.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from plastix.analysis.stats import interval
from plastix.errors import require
from plastix.icrl import evaluation
from plastix.icrl.tasks import SourceConfig
from plastix.icrl.training import family_of, load_trained
from plastix.runs import atomic_write_bytes, atomic_write_json


@dataclass(frozen=True)
class EvalConfig:
    tasks: int = 0
    """tasks to evaluate on (0: 200 bandit tasks from the split's stream, or every task of a
    finite family's split; more than the split has are cycled)."""
    repeats: int = 1
    """roll-outs per task."""
    episodes: int = 40
    """in-context episodes per roll-out (episodic families; bandits: one episode)."""
    temperature: float = 1.0
    """softmax temperature of the model's actions (1: sample its distribution)."""
    split: str = "test"
    """test: the held-out tasks; train: training tasks (to choose settings such as the
    temperature without looking at the held-out ones)."""
    seed: int = 0
    source: bool = True
    """episodic families: also run the dataset's source algorithm from scratch on the
    held-out tasks, for as many episodes as its histories had."""

    def __post_init__(self):
        require(self.tasks >= 0, f"tasks must be >= 0, got {self.tasks}")
        require(self.repeats >= 1, f"repeats must be >= 1, got {self.repeats}")
        require(self.episodes >= 1, f"episodes must be >= 1, got {self.episodes}")
        require(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        require(self.split in ("train", "test"), f"split must be train or test, got {self.split!r}")


def _tasks(family, config: EvalConfig):
    # training-split bandit tasks for validation are fresh draws (another seed than the data's)
    count = config.tasks
    if not count:
        count = len(family.env.tasks(config.split)) if family.episodic else 200
    return family.tasks(config.split, count, config.seed + 1000 * (config.split == "train"))


def _ci(values) -> dict:
    i = interval(np.asarray(values, float), statistic="mean")
    return {"mean": i.point, "low": i.low, "high": i.high}


def _fmt(ci: dict, digits: int = 2) -> str:
    return f"{ci['mean']:.{digits}f} [{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]"


def evaluate_run(run, config: EvalConfig, out, status=None) -> dict:
    """Evaluates training run ``run``; writes the report to ``out``; returns the results."""
    began = time.perf_counter()
    model, params, record = load_trained(run)
    meta = record["dataset"]
    family = family_of(meta)
    say = status or (lambda text: None)
    tasks = _tasks(family, config)
    key = jax.random.key(config.seed)
    episodes = config.episodes if family.episodic else 1
    say(f"rolling out the model on {len(tasks)} {config.split} tasks × {config.repeats}")
    rewards, regret = evaluation.evaluate(
        model,
        params,
        family,
        tasks,
        jax.random.fold_in(key, 1),
        episodes,
        config.repeats,
        config.temperature,
    )
    method = record["model"]["method"].upper()
    results = {
        "run": str(run),
        "method": method,
        "family": family.settings,
        "eval": asdict(config),
        "tasks": len(tasks),
        "context_episodes": record["model"]["context_episodes"] if family.episodic else 1,
        "dataset_source": meta["source"],
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if family.episodic:
        results.update(_episodic(family, meta, config, rewards, tasks, key, say, out, method))
    else:
        results.update(_bandit(family, config, regret, tasks, key, say, out, method))
    results["seconds"] = time.perf_counter() - began
    atomic_write_json(out / "results.json", results)
    atomic_write_bytes(out / "report.md", _markdown(results).encode())
    return results


def _bandit(family, config, regret, tasks, key, say, out, method) -> dict:
    curves = {method: np.cumsum(regret[:, 0], axis=-1)}
    say("running UCB, Thompson sampling and random on the same tasks")
    baselines = evaluation.bandit_baselines(family, tasks, jax.random.fold_in(key, 2))
    curves.update({"UCB": baselines["ucb"], "Thompson": baselines["thompson"]})
    curves["random"] = baselines["random"]
    final = {name: _ci(c[:, -1]) for name, c in curves.items()}
    m = final[method]["mean"]
    ratios = {f"{method}/{n}": m / final[n]["mean"] for n in ("UCB", "Thompson", "random")}
    frame = pd.DataFrame({n: c.mean(0) for n, c in curves.items()})
    frame.index.name = "pull"
    frame.index += 1
    atomic_write_bytes(out / "curves.csv", frame.to_csv().encode())
    _plot(frame, "pull", "cumulative pseudo-regret (mean over tasks)", out / "curve.png", {})
    return {"kind": "bandit", "final_regret": final, "ratios": ratios}


def _episodic(family, meta, config, rewards, tasks, key, say, out, method) -> dict:
    returns = rewards.sum(-1)  # [rollouts, episodes]
    curve = returns.mean(0)
    n = max(1, min(5, returns.shape[1] // 4))
    first, last = returns[:, :n].mean(1), returns[:, -n:].mean(1)
    curves = {method: curve}
    bands = {method: [_ci(returns[:, e]) for e in range(returns.shape[1])]}
    rand = evaluation.episode_returns(
        family,
        "random",
        SourceConfig(source="random", episodes=returns.shape[1]),
        tasks,
        jax.random.fold_in(key, 3),
        config.repeats,
    )
    curves["random"] = rand.mean(0)
    result = {
        "kind": "episodic",
        "first_episodes": n,
        "first": _ci(first),
        "last": _ci(last),
        "gain": _ci(last - first),
        "random": _ci(rand.mean(1)),
    }
    if config.source and meta["source"] != "random":
        settings = meta["source_settings"]
        source = SourceConfig(source=meta["source"], episodes=settings["episodes"])
        if "q_learning" in settings:
            from plastix.icrl.sources import QLearning

            source = replace(source, q_learning=QLearning(**settings["q_learning"]))
        say(f"running the source ({meta['source']}) from scratch on the same tasks")
        src = evaluation.episode_returns(
            family, meta["source"], source, tasks, jax.random.fold_in(key, 4), config.repeats
        )
        src_curve = src.mean(0)
        final = float(src_curve[-10:].mean())
        result["source"] = {
            "name": meta["source"],
            "episodes": int(src.shape[1]),
            "final": final,
            "first": _ci(src[:, :n].mean(1)),
        }
        for label, target in (("final", final), ("90%", 0.9 * final)):
            result[f"episodes_to_{label}"] = {
                method: evaluation.episodes_to_reach(curve, target),
                "source": evaluation.episodes_to_reach(src_curve, target),
            }
        curves["source"] = src_curve
    length = max(len(c) for c in curves.values())
    frame = pd.DataFrame(
        {k: np.pad(v, (0, length - len(v)), constant_values=np.nan) for k, v in curves.items()}
    )
    frame.index.name = "episode"
    frame.index += 1
    atomic_write_bytes(out / "curves.csv", frame.to_csv().encode())
    _plot(frame, "episode", "return per episode (mean over roll-outs)", out / "curve.png", bands)
    return result


def _plot(frame, xlabel, ylabel, path, bands):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in frame.columns:
        line = ax.plot(frame.index, frame[name], label=name)[0]
        if name in bands:
            lo = [b["low"] for b in bands[name]]
            hi = [b["high"] for b in bands[name]]
            ax.fill_between(frame.index[: len(lo)], lo, hi, alpha=0.2, color=line.get_color())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _markdown(r: dict) -> str:
    fam = r["family"]
    lines = [
        f"# {r['method']} on {fam['family']} — in-context evaluation",
        "",
        f"Run `{r['run']}`; {r['tasks']} "
        f"{'held-out' if r['eval']['split'] == 'test' else 'training'} tasks × "
        f"{r['eval']['repeats']} "
        f"roll-outs, frozen weights, temperature {r['eval']['temperature']}; context "
        f"{r['context_episodes']} episode(s); trained on `{r['dataset_source']}` histories. "
        "Intervals: 95% bootstrap over roll-outs.",
        "",
    ]
    if r["kind"] == "bandit":
        lines += ["| policy | cumulative regret after the horizon |", "|---|---|"]
        lines += [f"| {n} | {_fmt(ci)} |" for n, ci in r["final_regret"].items()]
        lines += ["", "| ratio | value |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in r["ratios"].items()]
    else:
        n = r["first_episodes"]
        lines += [
            "| quantity | value |",
            "|---|---|",
            f"| mean return, first {n} episodes | {_fmt(r['first'])} |",
            f"| mean return, last {n} episodes | {_fmt(r['last'])} |",
            f"| gain (last − first) | {_fmt(r['gain'])} |",
            f"| random policy, mean return | {_fmt(r['random'])} |",
        ]
        if "source" in r:
            s = r["source"]
            lines += [
                f"| source ({s['name']}) final return (its last 10 of {s['episodes']} "
                f"episodes) | {s['final']:.2f} |",
            ]
            for label in ("final", "90%"):
                e = r[f"episodes_to_{label}"]
                lines.append(
                    f"| episodes to reach {label} of the source's final return: "
                    f"{r['method']} / source | {e[r['method']]} / {e['source']} |"
                )
    lines += ["", "![curve](curve.png)", ""]
    return "\n".join(lines)
