"""In-context RL end to end on the CPU: ``python benchmarks/icrl.py bandit | darkroom [--out DIR]``.

Runs the whole pipeline through the command line — ``plastix icrl data``, ``train``, ``eval`` —
with two jobs side by side (one per core where the machine has two), chooses each model's
sampling temperature on *training* tasks (``--split train``) among 1, 0.5 and 0.25, then
evaluates on the held-out tasks, prints a table against the issue's targets and writes it to
``benchmarks/results/icrl-FAMILY.md``.

- bandit: 5 and 10 Gaussian arms (σ 0.3, horizon 100); DPT on 50,000 random-policy (Dirichlet)
  contexts, AD on 20,000 Thompson-sampling histories; 200 held-out tasks.
- dpt-paper: DPT on Lee et al. 2023's bandit protocol — 5 Gaussian arms (σ 0.3) with means
  uniform in [0, 1], horizon 500, 80,000 pretraining tasks (the paper's 100,000 less its 20%
  test split), contexts from a Dirichlet policy mixed with a one-hot by a weight in
  {0, 0.1, …, 1}, 4 layers and 4 heads; 200 held-out tasks against UCB and Thompson sampling
  (prior N(1/2, 1/12) as in the paper's code). What differs: 3,000 steps of batch 32 (about
  1.2 passes over the data; the paper trains for hundreds of epochs), width 64, AdamW 1e-3 with
  warm-up and cosine decay (the paper: 1e-4), sampling temperature chosen on training tasks.
- darkroom: AD on 4,096 Q-learning histories (160 episodes, every 8th kept), a context of 4
  episodes, and the context-length ablation: the same data with a context of 1 episode;
  17 held-out goals × 10 roll-outs of 60 episodes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PLASTIX = [sys.executable, "-m", "plastix"]
TEMPERATURES = ("1.0", "0.5", "0.25")
HERE = Path(__file__).resolve().parent


def sh(args, core):
    prefix = ["taskset", "-c", str(core)] if core is not None else []
    print("$", " ".join(map(str, args)), flush=True)
    subprocess.run(prefix + [str(a) for a in args], check=True, stdout=subprocess.DEVNULL)


def icrl(*args, core=None):
    sh(PLASTIX + ["icrl", *args], core)


def trained(run: Path) -> bool:
    """Whether the training run in ``run`` completed (an interrupted one is resumed)."""
    summary = run / "summary.json"
    return summary.exists() and json.loads(summary.read_text()).get("status") == "completed"


def resuming(run: Path) -> list:
    return ["--resume"] if (run / "checkpoint.msgpack").exists() else []


def choose_temperature(run: Path, core, metric, extra=()) -> tuple[str, dict]:
    scores = {}
    for t in TEMPERATURES:
        out = run / f"val-{t}"
        if not (out / "results.json").exists():
            icrl(
                "eval", run, "--split", "train", "--temperature", t, *extra, "--out", out, core=core
            )
        scores[t] = metric(json.loads((out / "results.json").read_text()))
    return max(scores, key=scores.get), scores


def bandit_job(out: Path, arms: int, core):
    d = out / f"bandit{arms}"
    common = ["--arms", arms]
    if not (d / "dpt-data").exists():
        icrl(
            "data",
            *common,
            "--source",
            "dirichlet",
            "--tasks",
            50_000,
            "--out",
            d / "dpt-data",
            core=core,
        )
    if not (d / "ad-data").exists():
        icrl(
            "data",
            *common,
            "--source",
            "thompson",
            "--tasks",
            20_000,
            "--out",
            d / "ad-data",
            core=core,
        )
    for method, steps, lr in (("dpt", 8000, "2e-3"), ("ad", 2000, "1e-3")):
        run = d / method
        if not trained(run):
            icrl(
                "train",
                *resuming(run),
                "--data",
                d / f"{method}-data",
                "--method",
                method,
                "--steps",
                steps,
                "--batch-size",
                32,
                "--learning-rate",
                lr,
                "--out",
                run,
                core=core,
            )
        temp, val = choose_temperature(
            run, core, lambda r, m=method: -r["final_regret"][m.upper()]["mean"]
        )
        if not (run / "eval").exists():
            icrl("eval", run, "--temperature", temp, "--out", run / "eval", core=core)


def dpt_paper_job(out: Path, core):
    data, run = out / "dpt-paper-data", out / "dpt-paper"
    if not data.exists():
        icrl(
            "data", "--arms", 5, "--horizon", 500, "--means", "uniform", "--source",
            "dirichlet", "--dirichlet-mix", "--tasks", 80_000, "--out", data, core=core,
        )  # fmt: skip
    if not trained(run):
        icrl(
            "train", *resuming(run), "--data", data, "--method", "dpt", "--layers", 4,
            "--heads", 4, "--steps", 3000, "--batch-size", 32, "--learning-rate", "1e-3",
            "--out", run, core=core,
        )  # fmt: skip
    temp, _ = choose_temperature(run, core, lambda r: -r["final_regret"]["DPT"]["mean"])
    if not (run / "eval").exists():
        icrl("eval", run, "--tasks", 200, "--temperature", temp, "--out", run / "eval", core=core)


def dpt_paper_table(out: Path) -> str:
    r = json.loads((out / "dpt-paper" / "eval" / "results.json").read_text())
    f, ratios = r["final_regret"], r["ratios"]
    m = f["DPT"]
    rows = [
        "| protocol | temperature | DPT regret at 500 [95% CI] | UCB | Thompson | random | "
        "DPT ÷ UCB | DPT ÷ Thompson |",
        "|---|---|---|---|---|---|---|---|",
        f"| Lee et al. 2023 (5 arms, uniform means, H 500) | {r['eval']['temperature']} | "
        f"{m['mean']:.2f} [{m['low']:.2f}, {m['high']:.2f}] | {f['UCB']['mean']:.2f} | "
        f"{f['Thompson']['mean']:.2f} | {f['random']['mean']:.1f} | "
        f"{ratios['DPT/UCB']:.3f} | {ratios['DPT/Thompson']:.3f} |",
    ]
    return "\n".join(rows)


def darkroom_job(out: Path, context: int, core):
    data = out / "darkroom-data"
    run = out / f"ad-context{context}"
    if not trained(run):
        icrl(
            "train",
            *resuming(run),
            "--data",
            data,
            "--method",
            "ad",
            "--context-episodes",
            context,
            "--steps",
            4000,
            "--batch-size",
            32,
            "--out",
            run,
            core=core,
        )
    extra = ("--episodes", "60", "--repeats", "4", "--no-source")
    temp, _ = choose_temperature(run, core, lambda r: r["last"]["mean"], extra)
    if not (run / "eval").exists():
        icrl(
            "eval",
            run,
            "--episodes",
            60,
            "--repeats",
            10,
            "--temperature",
            temp,
            "--out",
            run / "eval",
            core=core,
        )


def cores() -> list:
    have = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return have[:2] if len(have) >= 2 else [None, None]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=("bandit", "darkroom", "dpt-paper"))
    parser.add_argument("--out", default="icrl-benchmark")
    args = parser.parse_args()
    out = Path(args.out)
    resumed = out.exists() and any(out.iterdir())
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    c = cores()
    with ThreadPoolExecutor(2) as pool:
        if args.family == "dpt-paper":
            jobs = [pool.submit(dpt_paper_job, out, c[0])]
        elif args.family == "bandit":
            jobs = [
                pool.submit(bandit_job, out, arms, core)
                for arms, core in zip((5, 10), c, strict=True)
            ]
        else:
            if not (out / "darkroom-data").exists():
                icrl(
                    "data",
                    "--family",
                    "darkroom",
                    "--source",
                    "q-learning",
                    "--episodes",
                    160,
                    "--subsample",
                    8,
                    "--tasks",
                    4096,
                    "--out",
                    out / "darkroom-data",
                    core=c[0],
                )
            jobs = [
                pool.submit(darkroom_job, out, k, core) for k, core in zip((4, 1), c, strict=True)
            ]
        for job in jobs:
            job.result()
    minutes = (time.perf_counter() - began) / 60
    (HERE / "results").mkdir(exist_ok=True)
    tables = {"bandit": bandit_table, "darkroom": darkroom_table, "dpt-paper": dpt_paper_table}
    table = tables[args.family](out)
    note = " (resumed: work done before it is not counted)" if resumed else " (whole pipeline)"
    text = f"{table}\n\nwall time of this invocation: {minutes:.1f} min{note}\n"
    print(text)
    (HERE / "results" / f"icrl-{args.family}.md").write_text(text)


def bandit_table(out: Path) -> str:
    rows = [
        "| arms | method | temperature | regret [95% CI] | UCB | Thompson | random | "
        "÷ UCB | ÷ Thompson | ÷ random |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arms in (5, 10):
        for method in ("dpt", "ad"):
            r = json.loads((out / f"bandit{arms}" / method / "eval" / "results.json").read_text())
            f = r["final_regret"]
            m = f[method.upper()]
            ratios = r["ratios"]
            rows.append(
                f"| {arms} | {method.upper()} | {r['eval']['temperature']} | "
                f"{m['mean']:.2f} [{m['low']:.2f}, {m['high']:.2f}] | {f['UCB']['mean']:.2f} | "
                f"{f['Thompson']['mean']:.2f} | {f['random']['mean']:.1f} | "
                + " | ".join(
                    f"{ratios[f'{method.upper()}/{n}']:.3f}" for n in ("UCB", "Thompson", "random")
                )
                + " |"
            )
    return "\n".join(rows)


def darkroom_table(out: Path) -> str:
    rows = [
        "| context | temperature | first 5 episodes | last 5 | source final | episodes to "
        "90% of it: AD / source | episodes to 100%: AD / source |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in (4, 1):
        r = json.loads((out / f"ad-context{k}" / "eval" / "results.json").read_text())
        e90, e100 = r["episodes_to_90%"], r["episodes_to_final"]
        rows.append(
            f"| {k} episode(s) | {r['eval']['temperature']} | {r['first']['mean']:.2f} "
            f"[{r['first']['low']:.2f}, {r['first']['high']:.2f}] | {r['last']['mean']:.2f} "
            f"[{r['last']['low']:.2f}, {r['last']['high']:.2f}] | {r['source']['final']:.2f} | "
            f"{e90['AD']} / {e90['source']} | {e100['AD']} / {e100['source']} |"
        )
    ablation_plot(out)
    return "\n".join(rows) + "\n\n![context-length ablation](icrl-darkroom.png)"


def ablation_plot(out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, ax = plt.subplots(figsize=(6, 4))
    for k in (4, 1):
        curves = pd.read_csv(out / f"ad-context{k}" / "eval" / "curves.csv", index_col=0)
        ax.plot(curves.index, curves["AD"], label=f"AD, context {k} episode(s)")
    ax.plot(curves.index, curves["source"], label="source (Q-learning)", color="grey")
    ax.plot(curves.index, curves["random"], label="random", color="black", lw=0.8)
    ax.set_xlabel("episode")
    ax.set_ylabel("return (mean over held-out roll-outs)")
    ax.set_title("Dark Room, 17 held-out goals")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "results" / "icrl-darkroom.png", dpi=120)


if __name__ == "__main__":
    main()
