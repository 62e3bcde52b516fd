"""Probe a trained agent along a random-action episode: at every 4th of 40 steps, print the root
value, each action's predicted reward, next-state value and Q = reward + discount x value, and
the policy prior (docs/classic_control.md reads Acrobot runs with it).

    python benchmarks/probe_policy.py RUN_DIR_OR_CHECKPOINT [--seed 0] [--steps 40]

The episode is reset with ``--seed``; actions come from numpy's generator seeded 0. The last
column is the environment's third state variable (Acrobot: the first link's angular velocity),
to see whether the prior and the Q order change with it.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from efficientzero import load_agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    agent = load_agent(args.path, device="cpu")
    model, env = agent.model, agent.make_env()
    num_actions = env.action_space.n
    observation, _ = env.reset(seed=args.seed)
    rng = np.random.default_rng(0)
    for step in range(args.steps):
        root = model.root(
            torch.from_numpy(np.stack([observation] * agent.config.frame_stack)[None])
        )
        embedding = tuple(x.repeat(num_actions, *([1] * (x.dim() - 1))) for x in root.embedding)
        out = model.recurrent(embedding, torch.arange(num_actions))
        q = out.reward + agent.config.discount * out.value
        if step % 4 == 0:
            state = getattr(env.unwrapped, "state", None)
            print(
                step,
                "value", round(float(root.value[0]), 1),
                "reward", np.round(out.reward.numpy(), 2),
                "next value", np.round(out.value.numpy(), 1),
                "q", np.round(q.numpy(), 2),
                "prior", np.round(torch.softmax(root.prior_logits[0], -1).numpy(), 2),
                "state[2]", None if state is None else round(float(state[2]), 2),
            )  # fmt: skip
        observation, *_ = env.step(int(rng.integers(num_actions)))


if __name__ == "__main__":
    main()
