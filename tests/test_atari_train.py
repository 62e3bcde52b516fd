"""Smoke test of the Atari 100k path: a tiny Pong run through the real CLI, then its evaluation."""

import json

import cv2

from efficientzero.cli import main

TINY_PONG = [
    "--preset",
    "atari100k",
    "--env",
    "Pong",
    "--env-steps",
    "300",
    "--total-updates",
    "6",
    "--start-transitions",
    "150",
    "--batch-size",
    "4",
    "--num-simulations",
    "3",
    "--num-envs",
    "2",
    "--num-channels",
    "8",
    "--reduced-channels",
    "4",
    "--lstm-hidden-size",
    "16",
    "--projection-dim",
    "32",
    "--projection-head-dim",
    "16",
    "--obs-size",
    "48",
    "--eval-interval",
    "0",
    "--periodic-eval-episodes",
    "2",
    "--eval-max-episode-steps",
    "30",
    "--checkpoint-interval",
    "3",
    "--block-length",
    "100",
    "--no-progress",
]


def test_tiny_pong_run_then_protocol_eval_with_video(tmp_path, capsys):
    run_dir = tmp_path / "pong"
    assert main(["train", "--run-dir", str(run_dir), *TINY_PONG]) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert (
        config["env_id"] == "ALE/Pong-v5" and config["frame_stack"] == 4 and config["clip_rewards"]
    )
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert (
        metrics[-1]["env_steps"] == 300
        and metrics[-1]["updates"] == 6
        and metrics[-1]["eval_episodes"] == 2
    )
    capsys.readouterr()

    video = tmp_path / "episode.mp4"
    assert main(["eval", "--run-dir", str(run_dir), "--episodes", "2", "--video", str(video)]) == 0
    summary = json.loads((run_dir / "eval.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["lengths"] == [30, 30]  # the evaluation cap
    assert summary["env_id"] == "ALE/Pong-v5" and summary["updates"] == 6
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 31  # the reset frame + 30 steps
    assert (
        int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 160
    )  # full-resolution render, not the 48x48 input
