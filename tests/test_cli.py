import json

import pytest

from plastix import runs
from plastix.cli import main

TINY = [
    "--steps",
    "400",
    "--eval-every",
    "400",
    "--eval-episodes",
    "2",
    "--log-every",
    "200",
    "--hidden-sizes",
    "16",
    "--batch-size",
    "16",
    "--learning-starts",
    "100",
    "--no-progress",
]


def test_help_lists_commands_and_agents(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("train", "rerun", "ls", "envs", "dqn", "sac", "--replay-ratio"):
        assert word in out


def test_envs_lists_every_domain(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for word in ("CartPole-v1", "gymnasium:ID", "atari:GAME", "Pong", "dmc:TASK"):
        assert word in out
    for word in ("cartpole-swingup", "walker-walk", "mjx:TASK", "CartpoleSwingup"):
        assert word in out


def test_agent_help_shows_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "dqn", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--env",
        "--steps",
        "--replay-ratio",
        "--seeds",
        "--out",
        "--n-step",
        "--target-update-interval",
        "--double-dqn",
        "--learning-rate",
    ):
        assert flag in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["train", "trpo"],
            "unknown agent 'trpo'. Valid choices: dqn, drq-eps, drqv2, es, ppo, ppo-gru, "
            "ppo-s2pg, reinforce, sac",
        ),
        (["train", "dqn", "--env", "Nope-v0"], "Valid choices: Acrobot-v1"),
        (["train", "dqn", "--env", "Pendulum-v1"], "dqn needs a discrete action space"),
        (["train", "sac", "--env", "CartPole-v1"], "sac needs a continuous"),
        (["frobnicate"], "unknown command 'frobnicate'. Valid choices: train"),
    ],
)
def test_bad_names_exit_2_naming_the_choices(capsys, argv, message):
    assert main(argv) == 2
    assert message in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "0"], "steps must be a positive number"),
        (["--replay-ratio", "0"], "replay_ratio must be > 0"),
        (["--replay-ratio", "-1"], "replay_ratio must be > 0"),
        (["--gamma", "2"], "gamma must be in [0, 1]"),
    ],
)
def test_bad_values_exit_2_before_compiling(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "dqn", *argv])
    assert exit_info.value.code == 2
    assert message in " ".join(capsys.readouterr().err.replace("│", " ").split())


def test_train_writes_the_run_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "x"
    argv = [
        "train",
        "dqn",
        "--env",
        "CartPole-v1",
        "--replay-ratio",
        "0.5",
        "--seeds",
        "2",
        "--out",
        str(out),
        *TINY,
    ]
    assert main(argv) == 0
    config = json.loads((out / runs.CONFIG_FILE).read_text())
    assert config["run"]["replay_ratio"] == 0.5 and config["run"]["seeds"] == 2
    summary = json.loads((out / runs.SUMMARY_FILE).read_text())
    assert summary["status"] == "completed"
    before = (out / runs.SUMMARY_FILE).read_bytes()
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / runs.SUMMARY_FILE).read_bytes() == before
    assert main(["ls", str(tmp_path)]) == 0
    assert "CartPole-v1" in capsys.readouterr().out


def test_plot_writes_one_png_per_metric(tmp_path, capsys):
    run = tmp_path / "runs" / "a"
    argv = ["train", "dqn", "--seeds", "2", "--out", str(run), "--diagnostics.every", "200", *TINY]
    assert main(argv) == 0
    out = tmp_path / "plots"
    assert main(["plot", str(tmp_path / "runs"), "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "eval_return.png",
        "episode_return.png",
        "critic_loss.png",
        "critic_fau.png",
        "critic_dormant.png",
        "critic_erank.png",
    } <= names
    for png in out.iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(run), "--out", str(out), "--metrics", "nope"]) == 2
    assert "no such metric(s) nope" in capsys.readouterr().err
