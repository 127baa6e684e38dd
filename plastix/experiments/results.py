"""The claims of an experiment and how they are judged: ``Results`` holds the cells' scores
(and every run's metrics) and makes ``Claim``s with their verdicts (``plastix.experiments.base``
says what each verdict means)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from plastix.analysis import normalize, stats

MARGIN = (0.3, 0.7)
"""P(X > Y) within which two configurations count as equivalent."""


@dataclass(frozen=True)
class Claim:
    text: str
    verdict: str  # "supported", "contradicted", "inconclusive", "not testable"
    evidence: str

    @property
    def line(self) -> str:
        marks = {
            "supported": "✅",
            "contradicted": "❌",
            "inconclusive": "❔",
            "not testable": "⚪",
        }
        mark = marks[self.verdict]
        return f"- {mark} **{self.verdict}** — {self.text} {self.evidence}"


class Results:
    """Final scores of an experiment's cells: ``scores(env, group) -> [seeds]``."""

    def __init__(self, finals, groups: dict[str, tuple[str, str]], table=None):
        self.table = table
        """every run's metrics (``runs.load_runs``), for claims about more than the scores."""
        self.runs = {key: run for run, key in groups.items()}
        """``(env, group)`` -> run directory."""
        self._scores: dict[tuple[str, str], np.ndarray] = {}
        for run, rows in finals.groupby("run"):
            key = groups.get(str(run))
            if key is not None:
                self._scores[key] = rows.sort_values("seed").score.to_numpy()

    def envs(self, group: str | None = None) -> list[str]:
        return sorted({e for e, g in self._scores if group is None or g == group})

    def groups(self) -> list[str]:
        return sorted({g for _, g in self._scores})

    def scores(self, env: str, group: str) -> np.ndarray:
        return self._scores[(env, group)]

    def matrix(self, group: str, envs: Sequence[str]) -> np.ndarray:
        """``[seeds, tasks]`` over ``envs`` (seeds cut to the smallest count)."""
        missing = [e for e in envs if (e, group) not in self._scores]
        if not envs or missing:
            raise KeyError(f"no scores for {group!r} on {', '.join(missing) or 'any environment'}")
        columns = [self.scores(e, group) for e in envs]
        n = min(len(c) for c in columns)
        return np.stack([c[:n] for c in columns], axis=1)

    def compare(
        self, better: str, worse: str, text: str, envs: Sequence[str] | None = None
    ) -> Claim:
        """The claim ``text``: ``better`` beats ``worse`` (over ``envs`` as tasks)."""
        envs = list(envs or self.envs(better))
        x, y = self.matrix(better, envs), self.matrix(worse, envs)
        poi = stats.probability_of_improvement(x, y)
        return Claim(text, verdict_of(poi), self._evidence(better, worse, poi, envs))

    def _evidence(self, better: str, worse: str, poi, envs: Sequence[str]) -> str:
        """P(X > Y) and the IQMs, per environment when there are several (raw returns of
        different environments are not pooled)."""
        if len(envs) == 1:
            x, y = self.scores(envs[0], better), self.scores(envs[0], worse)
            iqm = (
                f"IQM {better} {stats.interval(x).format()} vs {worse} {stats.interval(y).format()}"
            )
            return f"(P({better} > {worse}) = {poi.format(2)} on {envs[0]}; {iqm})"
        per_env = "; ".join(
            f"{env}: {stats.iqm(self.scores(env, better)):.1f} vs "
            f"{stats.iqm(self.scores(env, worse)):.1f}"
            for env in envs
        )
        return (
            f"(P({better} > {worse}) = {poi.format(2)} over {len(envs)} environments; IQM "
            f"{better} vs {worse} per environment: {per_env}{self._pooled(better, worse, envs)})"
        )

    def pooled(self, group: str, envs: Sequence[str]) -> np.ndarray | None:
        """``[seeds, tasks]`` normalised scores over ``envs`` (None: one has no
        normalisation, so they are not pooled)."""
        norm = normalize.normaliser(envs)
        if norm is None:
            return None
        matrix = self.matrix(group, envs)
        return np.stack([norm(e, matrix[:, i]) for i, e in enumerate(envs)], axis=1)

    def _pooled(self, better: str, worse: str, envs: Sequence[str]) -> str:
        x, y = self.pooled(better, envs), self.pooled(worse, envs)
        if x is None:
            return ""
        kinds = ", ".join(sorted({normalize.kind(e) for e in envs}))
        return (
            f"; pooled IQM of normalised scores ({kinds}) {better} "
            f"{stats.interval(x).format(3)} vs {worse} {stats.interval(y).format(3)}"
        )

    def metric(self, env: str, group: str, metric: str) -> pd.DataFrame:
        """``[steps, seeds]`` values of ``metric`` of one cell."""
        t = self.table
        rows = t[(t.run == self.runs[(env, group)]) & (t.metric == metric)]
        return rows.pivot_table(index="step", columns="seed", values="value")

    def compare_scores(self, x: np.ndarray, y: np.ndarray, names: tuple[str, str], text: str):
        """The claim ``text``: scores ``x`` beat ``y`` (one task), named ``names``."""
        poi = stats.probability_of_improvement(x, y)
        evidence = (
            f"(P({names[0]} > {names[1]}) = {poi.format(2)}; IQM {names[0]} "
            f"{stats.interval(x).format()} vs {names[1]} {stats.interval(y).format()})"
        )
        return Claim(text, verdict_of(poi), evidence)

    def not_better(self, x: str, y: str, text: str, envs: Sequence[str] | None = None) -> Claim:
        """The claim ``text``: ``x`` does *not* beat ``y`` — supported when P(x > y)'s interval
        ends within the margin (≤ ``MARGIN[1]``), contradicted when it lies wholly above 0.5."""
        envs = list(envs or self.envs(x))
        poi = stats.probability_of_improvement(self.matrix(x, envs), self.matrix(y, envs))
        if poi.high <= MARGIN[1]:
            verdict = "supported"
        elif poi.low > 0.5:
            verdict = "contradicted"
        else:
            verdict = "inconclusive"
        evidence = self._evidence(x, y, poi, envs)
        return Claim(text, verdict, f"{evidence[:-1]}; margin: P ≤ {MARGIN[1]})")

    def differs(self, x: str, y: str, text: str, envs: Sequence[str] | None = None) -> Claim:
        """The claim ``text``: ``x`` and ``y`` differ, either way (P(x > y)'s interval
        excludes 0.5)."""
        claim = self.compare(x, y, text, envs)
        verdict = "supported" if claim.verdict != "inconclusive" else "inconclusive"
        return Claim(text, verdict, claim.evidence)

    def learns(self, env: str, group: str, text: str) -> Claim:
        """The claim ``text``: the cell's final scores beat a uniformly random policy's
        returns on ``env`` (``random_returns``)."""
        return self.compare_scores(
            self.scores(env, group), random_returns(env), (group, "a random policy"), text
        )

    def falls(self, env: str, group: str, metric: str, text: str, after: int = 0) -> Claim:
        """The claim ``text``: ``metric`` of the cell ends below its value at step ``after``
        (its first value from then on)."""
        values = self.metric(env, group, metric)
        values = values[values.index >= after]
        start, end = values.iloc[0].to_numpy(), values.iloc[-1].to_numpy()
        names = (f"{metric} at {values.index[0]:,}", "at the end")
        return self.compare_scores(start, end, names, text)

    @staticmethod
    def given(precondition: Claim, claim: Claim) -> Claim:
        """``claim``, or *not testable* when ``precondition`` is not supported."""
        if precondition.verdict == "supported":
            return claim
        if precondition.verdict == "not testable":  # its own precondition says why
            return Claim(claim.text, "not testable", precondition.evidence)
        return Claim(
            claim.text,
            "not testable",
            f"(precondition not met — {precondition.text} {precondition.verdict}: "
            f"{precondition.evidence.strip('()')}; the claim's own numbers: "
            f"{claim.evidence.strip('()')})",
        )


def verdict_of(poi: stats.Interval) -> str:
    if poi.low > 0.5:
        return "supported"
    if poi.high < 0.5:
        return "contradicted"
    return "inconclusive"


RANDOM_EPISODES = 100


def random_returns(env_id: str, episodes: int = RANDOM_EPISODES) -> np.ndarray:
    """Returns of ``episodes`` episodes of uniformly random actions on a jittable environment
    (fixed key): the floor a configuration must clear to have learned anything."""
    import jax
    import jax.numpy as jnp

    from plastix.envs import make_env

    env = make_env(env_id)
    key = jax.random.key(0)

    def one(key):
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key)

        def step(carry, key):
            state, total, alive = carry
            act_key, env_key = jax.random.split(key)
            action = env.action_space.sample(act_key)
            ts, state = env.step(env_key, state, action)
            total = total + jnp.where(alive, ts.reward, 0.0)
            return (state, total, alive & ~(ts.terminated | ts.truncated)), None

        keys = jax.random.split(key, env.max_episode_steps)
        (_, total, _), _ = jax.lax.scan(step, (state, 0.0, True), keys)
        return total

    return np.asarray(jax.jit(jax.vmap(one))(jax.random.split(key, episodes)))
