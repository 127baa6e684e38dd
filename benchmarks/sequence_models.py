"""Transformer vs S5 vs LRU for Algorithm Distillation: ``python benchmarks/sequence_models.py``.

The same data, the same training budget and the same evaluation for each ``--model``, through
the command line (``plastix icrl data | train | eval``):

- Dark Room: AD on 4,096 Q-learning histories (160 episodes, every 8th kept), a context of
  4 episodes, 4,000 steps of batch 32; 17 held-out goals × 10 roll-outs of 60 episodes.
- Bandits: AD on 20,000 Thompson-sampling histories of 5 Gaussian arms (σ 0.3, horizon
  100), 2,000 steps of batch 32; cumulative regret on 200 held-out tasks beside UCB and
  Thompson sampling.

Each model's sampling temperature is chosen on *training* tasks among 1, 0.5 and 0.25 (as in
``benchmarks/icrl.py``), then it is evaluated once on the held-out tasks. Then the acting
cost: the time per action of a jitted roll-out of one context of ``L`` steps (prefill-free,
one token or recurrence step at a time, batch 1) as ``L`` grows, for the same widths.
Writes ``benchmarks/results/sequence-models.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from icrl import choose_temperature, icrl, resuming, trained  # noqa: E402

MODELS = ("transformer", "s5", "lru")
CONTEXTS = (64, 256, 1024, 4096)


def darkroom(out: Path, core):
    data = out / "darkroom-data"
    if not data.exists():
        icrl(
            "data", "--family", "darkroom", "--source", "q-learning", "--episodes", 160,
            "--subsample", 8, "--tasks", 4096, "--out", data, core=core,
        )  # fmt: skip
    for model in MODELS:
        run = out / f"darkroom-{model}"
        if not trained(run):
            icrl(
                "train", *resuming(run), "--data", data, "--method", "ad", "--model", model,
                "--context-episodes", 4, "--steps", 4000, "--batch-size", 32, "--out", run,
                core=core,
            )  # fmt: skip
        extra = ("--episodes", "60", "--repeats", "4", "--no-source")
        temp, _ = choose_temperature(run, core, lambda r: r["last"]["mean"], extra)
        if not (run / "eval").exists():
            icrl(
                "eval", run, "--episodes", 60, "--repeats", 10, "--temperature", temp,
                "--out", run / "eval", core=core,
            )  # fmt: skip


def bandit(out: Path, core):
    data = out / "bandit5-data"
    if not data.exists():
        icrl(
            "data", "--arms", 5, "--source", "thompson", "--tasks", 20_000, "--out", data,
            core=core,
        )  # fmt: skip
    for model in MODELS:
        run = out / f"bandit5-{model}"
        if not trained(run):
            icrl(
                "train", *resuming(run), "--data", data, "--method", "ad", "--model", model,
                "--steps", 2000, "--batch-size", 32, "--learning-rate", "1e-3", "--out", run,
                core=core,
            )  # fmt: skip
        temp, _ = choose_temperature(run, core, lambda r: -r["final_regret"]["AD"]["mean"])
        if not (run / "eval").exists():
            icrl("eval", run, "--temperature", temp, "--out", run / "eval", core=core)


def acting_cost(contexts=CONTEXTS, repeats: int = 3) -> dict:
    """Microseconds per action, ``{model: {L: us}}``: a jitted scan of ``L`` decode steps."""
    import jax
    import jax.numpy as jnp

    from plastix.icrl.tasks import Family, FamilyConfig
    from plastix.icrl.training import ModelConfig, make_model

    family = Family(FamilyConfig(family="darkroom"))
    d = family.obs_dim
    out = {}
    for name in MODELS:
        out[name] = {}
        for length in contexts:
            episodes = max(1, length // family.horizon)
            model = make_model(family, ModelConfig(model=name, context_episodes=episodes))
            t = model.max_len
            params = model.init(
                jax.random.key(0), jnp.zeros((1, t, d)), jnp.zeros((1, t), int), jnp.zeros((1, t))
            )

            @jax.jit
            def act(params, key, model=model, t=t):
                def step(carry, i):
                    cache, a, key = carry
                    key, k = jax.random.split(key)
                    obs = jax.random.normal(k, (1, d))
                    logits, cache = model.apply(
                        params, obs, a, jnp.zeros(1), cache, i, method="decode"
                    )
                    a = jnp.argmax(logits, -1).astype(jnp.int32)
                    return (cache, a, key), a

                init = (model.empty_cache(1), jnp.full(1, -1, jnp.int32), key)
                return jax.lax.scan(step, init, jnp.arange(t))[1]

            act(params, jax.random.key(1)).block_until_ready()  # compile
            best = float("inf")
            for r in range(repeats):
                began = time.perf_counter()
                act(params, jax.random.key(2 + r)).block_until_ready()
                best = min(best, time.perf_counter() - began)
            out[name][t] = 1e6 * best / t
    return out


def ci(r: dict) -> str:
    return f"{r['mean']:.2f} [{r['low']:.2f}, {r['high']:.2f}]"


def table(out: Path, cost: dict) -> str:
    rows = [
        "## Dark Room (AD, context 4 episodes, 17 held-out goals × 10 roll-outs)",
        "",
        "| model | parameters | train s | temperature | first 5 episodes | last 5 | "
        "episodes to 90% of the source's final |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        run = out / f"darkroom-{model}"
        s = json.loads((run / "summary.json").read_text())
        r = json.loads((run / "eval" / "results.json").read_text())
        rows.append(
            f"| {model} | {s['parameters']:,} | {s['seconds']:.0f} | {r['eval']['temperature']} "
            f"| {ci(r['first'])} | {ci(r['last'])} | {r['episodes_to_90%']['AD']} |"
        )
    rows += [
        "",
        "## Bandits (AD, 5 arms, 200 held-out tasks): cumulative regret after 100 pulls",
        "",
        "| model | parameters | train s | temperature | regret [95% CI] | ÷ UCB | ÷ Thompson |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        run = out / f"bandit5-{model}"
        s = json.loads((run / "summary.json").read_text())
        r = json.loads((run / "eval" / "results.json").read_text())
        rows.append(
            f"| {model} | {s['parameters']:,} | {s['seconds']:.0f} | {r['eval']['temperature']} "
            f"| {ci(r['final_regret']['AD'])} | {r['ratios']['AD/UCB']:.3f} | "
            f"{r['ratios']['AD/Thompson']:.3f} |"
        )
    lengths = sorted(next(iter(cost.values())))
    rows += [
        "",
        "## Acting cost: µs per action over a context of L steps (batch 1, width 64, 2 layers)",
        "",
        "| model | " + " | ".join(f"L = {n}" for n in lengths) + " |",
        "|---|" + "---|" * len(lengths),
    ]
    for model in MODELS:
        rows.append(f"| {model} | " + " | ".join(f"{cost[model][n]:.1f}" for n in lengths) + " |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="sequence-models-benchmark")
    parser.add_argument("--core", type=int, default=None, help="pin the jobs to this core")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    darkroom(out, args.core)
    bandit(out, args.core)
    cost = acting_cost()
    minutes = (time.perf_counter() - began) / 60
    text = f"{table(out, cost)}\n\nwall time of this invocation: {minutes:.1f} min\n"
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "sequence-models.md").write_text(text)


if __name__ == "__main__":
    main()
