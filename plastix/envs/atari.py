"""Atari 2600 games (ale-py, its ROMs ship with it) under the Atari 100k protocol, by short ids.

``atari:Pong`` is the protocol of Kaiser et al. 2020 as DrQ(ε) and SPR run it (Dopamine's
``atari_100k``): a frame skip of 4 that max-pools the last two frames, ``84×84`` grayscale
screens (area resampling), the last 4 stacked on the channel axis (``uint8``, ``84×84×4``,
padded at an episode's start by repeating its first frame), up to 30 no-op actions at the start
of every episode, no sticky actions, the minimal action set, episodes cut at 108,000 frames
(27,000 agent steps; a truncation), and a lost life reported as ``info["life_loss"]``: the
step is terminal *for learning only* (no bootstrapping across it, as Dopamine's
``terminal_on_life_loss``), while the episode, its return and every evaluation go on until the
game is over. The benchmark is 100k agent steps (400k frames).

``HUMAN`` and ``RANDOM`` are the reference scores of human-normalised scores,
``(score − random) / (human − random)``, for the 26 games of Atari 100k; the values are those
of Mnih et al. 2015 / van Hasselt et al. 2016 as Schwarzer et al. 2021 (SPR) and rliable's
Atari 100k data list them.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from plastix.errors import ConfigError

PREFIX = "atari:"
FRAME_STACK = 4
MAX_FRAMES = 108_000
FRAME_SKIP = 4

# game: (random, human)
REFERENCE = {
    "Alien": (227.8, 7127.7),
    "Amidar": (5.8, 1719.5),
    "Assault": (222.4, 742.0),
    "Asterix": (210.0, 8503.3),
    "BankHeist": (14.2, 753.1),
    "BattleZone": (2360.0, 37187.5),
    "Boxing": (0.1, 12.1),
    "Breakout": (1.7, 30.5),
    "ChopperCommand": (811.0, 7387.8),
    "CrazyClimber": (10780.5, 35829.4),
    "DemonAttack": (152.1, 1971.0),
    "Freeway": (0.0, 29.6),
    "Frostbite": (65.2, 4334.7),
    "Gopher": (257.6, 2412.5),
    "Hero": (1027.0, 30826.4),
    "Jamesbond": (29.0, 302.8),
    "Kangaroo": (52.0, 3035.0),
    "Krull": (1598.0, 2665.5),
    "KungFuMaster": (258.5, 22736.3),
    "MsPacman": (307.3, 6951.6),
    "Pong": (-20.7, 14.6),
    "PrivateEye": (24.9, 69571.3),
    "Qbert": (163.9, 13455.0),
    "RoadRunner": (11.5, 7845.0),
    "Seaquest": (68.4, 42054.7),
    "UpNDown": (533.4, 11693.2),
}
RANDOM = {game: r for game, (r, _) in REFERENCE.items()}
HUMAN = {game: h for game, (_, h) in REFERENCE.items()}
ATARI_100K = tuple(REFERENCE)


def human_normalised(game: str, score):
    """``(score − random) / (human − random)`` with the published reference scores."""
    if game not in REFERENCE:
        raise ConfigError(
            f"no reference scores for {game!r}; Atari 100k games: {', '.join(ATARI_100K)}"
        )
    random, human = REFERENCE[game]
    return (np.asarray(score, np.float64) - random) / (human - random)


def is_atari(name) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def _registry():
    try:
        import ale_py
    except ImportError as e:
        raise ConfigError(
            f"Atari needs the atari extra: pip install 'plastix[atari]' ({e})"
        ) from None
    gym.register_envs(ale_py)
    return sorted(i[4:-3] for i in gym.registry if i.startswith("ALE/") and i.endswith("-v5"))


def parse(name: str) -> str:
    """The game an ``atari:GAME`` id names (checked against ale-py's ROMs)."""
    game = name[len(PREFIX) :]
    games = _registry()
    if game not in games:
        import difflib

        close = difflib.get_close_matches(game, games, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown Atari game {game!r}.{hint} Atari 100k games: {', '.join(ATARI_100K)}; "
            f"every game: {', '.join(games)}"
        )
    return game


class AtariEnv(gym.Env):
    """One game under the Atari 100k protocol (module docstring)."""

    metadata = {"render_modes": []}
    frame_stack = FRAME_STACK
    max_episode_steps = MAX_FRAMES // FRAME_SKIP

    def __init__(self, game: str, noop_max: int = 30):
        self.game = parse(PREFIX + game) if not game.startswith(PREFIX) else parse(game)
        inner = gym.make(
            f"ALE/{self.game}-v5",
            frameskip=1,
            repeat_action_probability=0.0,
            full_action_space=False,
            max_num_frames_per_episode=MAX_FRAMES,
        )
        self._env = gym.wrappers.AtariPreprocessing(
            inner, noop_max=noop_max, frame_skip=FRAME_SKIP, screen_size=84, grayscale_obs=True
        )
        self.action_space = self._env.action_space
        self.observation_space = gym.spaces.Box(0, 255, (84, 84, FRAME_STACK), np.uint8)
        self._frames: list[np.ndarray] = []
        self._lives = 0

    def _stack(self, frame: np.ndarray, first: bool) -> np.ndarray:
        frame = frame[..., None]
        self._frames = [frame] * FRAME_STACK if first else self._frames[1:] + [frame]
        return np.concatenate(self._frames, axis=-1)

    def __getstate__(self):
        # the emulator with its random generator: ale-py pickles the emulator without it, and a
        # restored game then diverges from the original at its next step
        state = self.__dict__.copy()
        state["_emulator"] = self._env.unwrapped.clone_state(include_rng=True)
        return state

    def __setstate__(self, state):
        emulator = state.pop("_emulator")
        self.__dict__.update(state)
        self._env.unwrapped.restore_state(emulator)

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        frame, info = self._env.reset(seed=seed)
        self._lives = int(info.get("lives", 0))
        return self._stack(frame, first=True), {}

    def step(self, action):
        frame, reward, terminated, truncated, info = self._env.step(int(action))
        lives = int(info.get("lives", 0))
        life_loss = lives < self._lives and not (terminated or truncated)
        self._lives = lives
        obs = self._stack(frame, first=False)
        return obs, float(reward), bool(terminated), bool(truncated), {"life_loss": life_loss}
