"""The Python API: the README's example runs as written; resume and bad input through the API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import tiny_config

import efficientzero
from efficientzero import evaluate, load_agent, presets, train
from efficientzero.checkpoint import CheckpointError
from efficientzero.config import ConfigError
from efficientzero.run.directory import RunDirectoryError

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("## Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    printed = capsys.readouterr().out.split()
    assert float(printed[0]) >= 0  # the final evaluation's mean return
    run_dir = tmp_path / "runs" / "api-example"
    assert json.loads((run_dir / "eval.json").read_text())["episodes"] == 4
    assert (run_dir / "checkpoints" / "final.pt").is_file()


def test_train_resume_and_agent(tmp_path):
    config = tiny_config(total_env_steps=400, total_updates=20)
    result = train(config, tmp_path / "run", progress=False)
    assert result.record["env_steps"] == 400 and result.final_checkpoint.is_file()
    # Resume with a larger budget: the saved config is the default, budgets may change.
    more = train(config.replace(total_env_steps=500, total_updates=30), result.run_dir,
                 resume=True, progress=False)  # fmt: skip
    assert more.record["env_steps"] == 500 and more.record["updates"] == 30
    rows = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["env_steps"] for r in rows] == [300, 400, 500]
    with pytest.raises(CheckpointError, match="another config"):
        train(config.replace(lr=0.5), result.run_dir, resume=True, progress=False)

    agent = load_agent(result.final_checkpoint, device="cpu")
    env = agent.make_env()
    observation, _ = env.reset(seed=1)
    actions = {agent.act(observation) for _ in range(3)}
    assert actions <= {0, 1}
    summary = evaluate(result.final_checkpoint, episodes=2, seed=3)
    assert summary["seeds"] == [3, 4] and (result.run_dir / "checkpoints" / "eval.json").is_file()


def test_api_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="needs a config"):
        train(None, tmp_path / "a")
    with pytest.raises(RunDirectoryError, match="not a run directory"):
        train(run_dir=tmp_path / "nowhere", resume=True)
    with pytest.raises(RunDirectoryError, match="not a run directory"):
        load_agent(tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint file or run directory"):
        evaluate(tmp_path / "missing.pt")
    with pytest.raises(ConfigError, match="num_envs must be a positive integer"):
        train(presets.cartpole().replace(num_envs=0), tmp_path / "b")
    assert not (tmp_path / "b").exists()  # nothing written for a bad config


def test_the_package_exports_the_api():
    for name in ("Config", "presets", "train", "evaluate", "load_agent", "Agent", "TrainResult"):
        assert hasattr(efficientzero, name), name
    with pytest.raises(AttributeError):
        efficientzero.no_such_name  # noqa: B018


def test_agent_keeps_the_last_frame_stack_observations():
    import numpy as np

    from efficientzero.api import Agent
    from efficientzero.nets import build_inference

    config = tiny_config(frame_stack=3)
    agent = Agent(build_inference(config, (4,), 2), config)
    observations = [np.full(4, i, np.float32) for i in range(5)]
    agent.act(observations[0])
    assert [int(f[0]) for f in agent.frames] == [0, 0, 0]  # the first frame pads the stack
    for obs in observations[1:]:
        assert agent.act(obs) in (0, 1)
    assert [int(f[0]) for f in agent.frames] == [2, 3, 4]
    agent.reset()
    agent.act(observations[1])
    assert [int(f[0]) for f in agent.frames] == [1, 1, 1]


def test_agent_keeps_the_search_behind_its_last_action():
    import numpy as np

    from efficientzero.api import Agent
    from efficientzero.nets import build_inference

    config = tiny_config()
    agent = Agent(build_inference(config, (4,), 2), config)
    assert agent.last_plan is None
    action = agent.act(np.zeros(4, np.float32))
    plan = agent.last_plan
    assert plan is not None and plan.visit_counts.shape == (1, 2)
    assert plan.visit_counts.sum() == agent.config.num_simulations
    assert plan.visit_counts[0, action] == plan.visit_counts.max()  # greedy on the visits
