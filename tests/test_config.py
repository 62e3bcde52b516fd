import json

import pytest

from efficientzero.cli import main
from efficientzero.config import Config, ConfigError
from efficientzero.presets import make_preset

CANONICAL = (
    "env_id seed num_envs num_simulations discount td_steps unroll_steps batch_size lr weight_decay momentum "
    "max_grad_norm reanalyze_ratio lstm_horizon_len lstm_hidden_size support_size priority_alpha priority_beta "
    "dirichlet_alpha root_exploration_fraction value_prefix_coef value_coef policy_coef consistency_coef "
    "use_consistency use_value_prefix use_off_policy_correction total_env_steps total_updates start_transitions "
    "target_update_interval selfplay_update_interval repeat_action_probability frame_skip frame_stack obs_size "
    "gray_scale noop_max episode_life clip_rewards max_episode_steps eval_max_episode_steps eval_episodes"
).split()


def test_canonical_field_names_exist():
    fields = Config.__dataclass_fields__
    assert [n for n in CANONICAL if n not in fields] == []


def test_presets_validate():
    make_preset("cartpole").validate()
    atari = make_preset("atari100k", "Breakout").validate()
    assert atari.env_id == "ALE/Breakout-v5"
    assert (
        atari.total_env_steps,
        atari.total_updates,
        atari.num_simulations,
        atari.batch_size,
    ) == (100_000, 120_000, 50, 256)
    assert atari.discount == pytest.approx(0.997**4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_simulations": 0}, "num_simulations"),
        ({"eval_num_simulations": 0}, "eval_num_simulations"),
        ({"eval_pb_c_init": -0.5}, "eval_pb_c_init"),
        ({"discount": 1.5}, "discount"),
        ({"reanalyze_ratio": -0.1}, "reanalyze_ratio"),
        ({"temperatures": (1.0,)}, "temperatures"),
        ({"start_transitions": 10**9}, "start_transitions"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_validation_names_the_field(changes, message):
    with pytest.raises(ConfigError, match=message):
        make_preset("cartpole").replace(**changes).validate()


def test_evaluation_searches_with_eval_num_simulations_where_set():
    config = make_preset("cartpole")
    assert config.eval_num_simulations is None and config.for_evaluation() is config
    larger = config.replace(eval_num_simulations=64)
    assert larger.for_evaluation().num_simulations == 64 and larger.num_simulations == 16
    greedier = larger.replace(eval_pb_c_init=0.5).for_evaluation()
    assert (greedier.num_simulations, greedier.pb_c_init) == (64, 0.5)
    assert config.replace(eval_pb_c_init=0.5).for_evaluation().num_simulations == 16


def test_unknown_field_and_preset_suggest():
    with pytest.raises(ConfigError, match="num_simulations"):
        make_preset("cartpole").replace(num_simulation=3)
    with pytest.raises(ConfigError, match="atari100k"):
        make_preset("atari100")


def test_json_round_trip():
    c = make_preset("atari100k", "Pong")
    assert Config.from_dict(json.loads(c.to_json())) == c


def test_config_command_applies_overrides(capsys):
    assert (
        main(
            [
                "config",
                "--env",
                "Acrobot-v1",
                "--num-simulations",
                "7",
                "--use_consistency",
                "False",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert (
        data["env_id"] == "Acrobot-v1"
        and data["preset"] == "acrobot"
        and data["num_simulations"] == 7
        and data["use_consistency"] is False
    )


def test_acrobot_preset_is_the_vector_preset_with_its_measured_changes():
    # The fields docs/classic_control.md's Acrobot runs changed from the cartpole preset.
    changed = {
        k: v
        for k, v in make_preset("acrobot").to_dict().items()
        if v != make_preset("cartpole", "Acrobot-v1").to_dict()[k]
    }
    assert changed == {
        "preset": "acrobot",
        "action_repeat": 4,
        "search_algorithm": "gumbel",
        "num_simulations": 32,
        "discount": 0.99,
        "td_steps": 30,
        "total_env_steps": 7_500,
        "updates_per_env_step": 0.67,
        "eval_interval": 750,
    }


def test_config_command_atari_preset(capsys):
    assert main(["config", "--preset", "atari100k", "--env", "Breakout"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["frame_stack"] == 4 and data["env_id"] == "ALE/Breakout-v5"


def test_config_command_rejects_bad_values(capsys):
    assert main(["config", "--lr", "-1"]) == 2
    assert "lr must be a positive number" in capsys.readouterr().err
    assert main(["config", "--preset", "atari100k", "--env", "Breakot"]) == 2
    assert "did you mean 'Breakout'" in capsys.readouterr().err


def test_bench_search_prints_the_documented_json(capsys):
    assert (
        main(["bench", "search", "--batches", "1", "3", "--actions", "4", "--simulations", "5"])
        == 0
    )
    results = json.loads(capsys.readouterr().out)["results"]
    assert [(r["state"], r["batch"], r["actions"], r["simulations"]) for r in results] == [
        (state, b, 4, 5) for state in ("none", "small", "atari") for b in (1, 3)
    ]
    for r in results:
        assert r["seconds_per_search"] > 0
        assert r["sims_per_s"] == pytest.approx(
            r["batch"] * r["simulations"] / r["seconds_per_search"], rel=1e-6
        )


def test_config_defaults_are_the_paper_and_presets_state_differences():
    from efficientzero.config import overrides_between
    from efficientzero.presets import atari100k, cartpole

    assert atari100k("Breakout") == Config()  # the defaults are the paper's Atari 100k run
    assert set(overrides_between(Config(), atari100k("Pong"))) == {"env_id"}
    changed = overrides_between(Config(), cartpole())
    assert {"frame_stack", "clip_rewards", "optimizer", "total_env_steps"} <= set(changed)


def test_numeric_fields_carry_their_range_check():
    import dataclasses

    unchecked = {
        f.name
        for f in dataclasses.fields(Config)
        if f.type in ("int", "float", "int | None") and "range" not in f.metadata
    }
    assert not unchecked, unchecked
