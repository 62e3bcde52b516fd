"""Random-policy returns of the five MinAtar games, for the DQN-normalised score.

    python benchmarks/minatar_random.py [--episodes 100]
    python benchmarks/minatar_random.py --constant [--episodes 30]
    python benchmarks/minatar_random.py --explore 0.1 1.5 [--games Freeway] [--episodes 20]
    python benchmarks/minatar_random.py --action-set v1   # random over each minimal action set

Uniform random actions over all 6 actions (v0), sticky actions 0.1, difficulty ramping on: the
setting of the minatar preset and of the MinAtar paper's DQN curves. Episode i is seeded i
(``reset(seed=i)``; the action draws come from ``numpy.random.default_rng(i)``). Prints JSON
with each game's mean, standard deviation and standard error, and writes it to
``benchmarks/results/minatar_random.json``; the means are the ``random`` column of
``efficientzero/data/minatar.csv``. ``--action-set v1`` draws from each game's minimal action
set instead (``MinAtar/<Game>-v1``) and writes ``benchmarks/results/minatar_random-v1.json``:
what random play scores for an agent that acts on v1 (the normalisation keeps v0's, the
setting of the DQN references).

``--constant`` plays each of the 6 actions throughout instead (the same seeds; the sticky
actions still repeat it), a floor a learning agent should beat: Freeway's "up", for one, scores
tens of points while random play scores almost nothing. Writes each game's return per action
and the best action to ``benchmarks/results/minatar_constant.json``.

``--explore EPSILON MU`` plays the uniform random policy through the library's
temporally-extended epsilon-greedy (``efficientzero.actor.RepeatExplorer``, the config's
``explore_epsilon`` and ``explore_zeta_mu``): with probability EPSILON a step starts a random
action held for n ~ zeta(MU) steps. Without learning, this says how much more often the held
actions reach a reward than one-step dithering does (Freeway's far side: docs/minatar.md), and
(``held_share``) what share of the steps a repeat chose: the share of a training run's
self-play actions that are not the search's, for episodes as long as these.
Writes ``benchmarks/results/minatar_explore-<EPSILON>-<MU>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from efficientzero.actor import RepeatExplorer
from efficientzero.envs import make_env
from efficientzero.envs.minatar import GAMES
from efficientzero.presets import minatar

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "minatar_random.json"
OUT_CONSTANT = RESULTS / "minatar_constant.json"


def episode_returns(
    game: str,
    episodes: int,
    action: int | None = None,
    explore: tuple[float, float] | None = None,
    held: list[int] | None = None,
    action_set: str = "v0",
) -> list[float]:
    """Returns of ``episodes`` episodes seeded 0.., uniform random actions (``action`` None) or
    always ``action``; ``explore`` (epsilon, mu) puts temporally-extended repeats over them, and
    ``held`` (if given) gets [steps a repeat replaced, steps] added to it; ``action_set`` v1
    plays MinAtar/<game>-v1 (the minimal action set)."""
    config = minatar(game if action_set == "v0" else f"MinAtar/{game}-{action_set}")
    if explore is not None:
        config = config.replace(explore_epsilon=explore[0], explore_zeta_mu=explore[1]).validate()
    env = make_env(config, evaluation=True)
    num_actions = int(env.action_space.n)
    returns = []
    for i in range(episodes):
        rng = np.random.default_rng(i)
        explorer = RepeatExplorer(config, 1, num_actions, 0, rng) if explore else None
        env.reset(seed=i)
        total, done, steps = 0.0, False, 0
        while not done:
            chosen = int(rng.integers(num_actions)) if action is None else action
            if explorer is not None:
                chosen = int(explorer(np.array([chosen]))[0])
            _, reward, terminated, truncated, _ = env.step(chosen)
            total, done = total + float(reward), terminated or truncated
            steps += 1
        returns.append(total)
        if held is not None:
            held[0] += explorer.held_steps if explorer is not None else 0
            held[1] += steps
    env.close()
    return returns


def constant_returns(episodes: int) -> dict:
    """Each game's mean return per constant action, and the best of them."""
    result: dict = {"episodes": episodes, "seeds": f"0..{episodes - 1}", "games": {}}
    for game in GAMES:
        means = [float(np.mean(episode_returns(game, episodes, a))) for a in range(6)]
        best = int(np.argmax(means))
        result["games"][game] = {
            "mean_per_action": [round(m, 3) for m in means],
            "best_action": best,
            "best_mean": round(means[best], 3),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--episodes", type=int, default=None, help="default 100 (30 with --constant)"
    )
    parser.add_argument("--constant", action="store_true", help="each action played throughout")
    parser.add_argument(
        "--explore", nargs=2, type=float, metavar=("EPSILON", "MU"), help="random play with repeats"
    )
    parser.add_argument(
        "--games", nargs="+", default=list(GAMES), choices=GAMES, help="--explore's"
    )
    parser.add_argument(
        "--action-set",
        choices=["v0", "v1"],
        default="v0",
        help="random play's actions: v0 all 6 (default), v1 each game's minimal set",
    )
    args = parser.parse_args()
    if args.action_set != "v0" and (args.explore is not None or args.constant):
        parser.error("--action-set goes with plain random play only (not --explore/--constant)")
    if args.explore is not None:
        epsilon, mu = args.explore
        episodes = args.episodes or 20
        result = {
            "episodes": episodes,
            "seeds": f"0..{episodes - 1}",
            "epsilon": epsilon,
            "zeta_mu": mu,
        }
        for game in args.games:
            plain = np.array(episode_returns(game, episodes))
            counts = [0, 0]
            held = np.array(episode_returns(game, episodes, explore=(epsilon, mu), held=counts))
            result[game] = {
                "random": round(float(plain.mean()), 3),
                "explore": round(float(held.mean()), 3),
                "held_share": round(counts[0] / counts[1], 3),
            }
        out = RESULTS / f"minatar_explore-{epsilon:g}-{mu:g}.json"
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result))
        return
    if args.constant:
        result = constant_returns(args.episodes or 30)
        OUT_CONSTANT.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result))
        return
    args.episodes = args.episodes or 100
    result: dict = {"episodes": args.episodes, "seeds": f"0..{args.episodes - 1}", "games": {}}
    if args.action_set != "v0":
        result["action_set"] = args.action_set
    for game in GAMES:
        returns = np.array(episode_returns(game, args.episodes, action_set=args.action_set))
        result["games"][game] = {
            "mean": round(float(returns.mean()), 3),
            "std": round(float(returns.std(ddof=1)), 3),
            "stderr": round(float(returns.std(ddof=1) / np.sqrt(len(returns))), 3),
        }
    out = OUT if args.action_set == "v0" else RESULTS / f"minatar_random-{args.action_set}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
