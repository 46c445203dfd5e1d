#!/usr/bin/env python3
"""The PyTorch side of metarl-bench: the same workloads written in PyTorch, timed on this machine, so the
ratios in docs/benchmarks.md come from one machine and one session.

Needs Debian's python3-torch (apt-get install python3-torch; add libopenblas0-pthread for OpenBLAS).
Usage: python3 bench/peer/torch_peer.py [gru|act|maml|sac|all] [--hidden 64,128,256] [--meta-batch 20] [--iterations 4]
"""
import argparse
import os
import statistics
import time

import numpy as np
import torch
from torch import nn


def median_seconds(fn, seconds=1.0):
    """Median seconds per call over batches of about 10 ms, after a warm-up."""
    end = time.perf_counter() + min(0.5, seconds / 2)
    while time.perf_counter() < end:
        fn()
    reps = 1
    while True:
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        if time.perf_counter() - t >= 0.01 or reps > 1 << 20:
            break
        reps *= 2
    samples, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 5:
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        samples.append((time.perf_counter() - t) / reps)
    return statistics.median(samples)


def gru(seconds):
    """GRU(10→128), 100 steps × batch 16, forward + backward + Adam, one thread: as metarl-bench engine."""
    torch.set_num_threads(1)
    torch.manual_seed(2)
    steps, batch, inputs, hidden = 100, 16, 10, 128
    x = torch.randn(steps, batch, inputs)
    mask = torch.ones(steps, batch, 1)
    mask[::10] = 0
    cell = nn.GRUCell(inputs, hidden)
    head = nn.Linear(hidden, 1)
    opt = torch.optim.Adam(list(cell.parameters()) + list(head.parameters()), 1e-3)

    def step_loop():
        # The reset mask needs the state between steps, so RL² code steps the cell in a loop.
        opt.zero_grad()
        h = torch.zeros(batch, hidden)
        outs = []
        for t in range(steps):
            h = cell(x[t], h * mask[t])
            outs.append(h)
        loss = head(torch.stack(outs)).pow(2).mean()
        loss.backward()
        opt.step()

    seq = nn.GRU(inputs, hidden)
    opt2 = torch.optim.Adam(list(seq.parameters()) + list(head.parameters()), 1e-3)

    def whole_sequence():
        # One call for the whole sequence, without resets: the fastest PyTorch can do, for a different computation.
        opt2.zero_grad()
        out, _ = seq(x)
        head(out).pow(2).mean().backward()
        opt2.step()

    print(f"GRU(10→128), 100 steps × batch 16, forward + backward + Adam step, 1 thread, PyTorch {torch.__version__}:")
    print(f"  GRUCell step loop with the reset mask (as metarl-bench): {median_seconds(step_loop, seconds) * 1e3:8.2f} ms/iteration")
    print(f"  nn.GRU over the whole sequence, no resets:               {median_seconds(whole_sequence, seconds) * 1e3:8.2f} ms/iteration")


def act(seconds):
    """Batch-1 decisions without gradients, one thread, shaped as metarl-bench's act section on navigation-2d:
    RL²'s GRU over the 6-value input row with a linear head, and MAML's [64, 64] tanh MLP policy."""
    torch.set_num_threads(1)
    cell = nn.GRUCell(6, 128)
    head = nn.Linear(128, 2)
    x = torch.randn(1, 6)
    state = [torch.zeros(1, 128)]

    def gru_step():
        with torch.no_grad():
            state[0] = cell(x, state[0])
            head(state[0])

    mlp = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
    obs = torch.randn(1, 2)

    def mlp_step():
        with torch.no_grad():
            mlp(obs)

    print(f"Batch-1 steps, no gradients, 1 thread, PyTorch {torch.__version__}:")
    print(f"  GRU(6→128) + Linear(128→2):   {median_seconds(gru_step, seconds) * 1e6:8.2f} µs")
    print(f"  MLP 2→64→64→2 (tanh):         {median_seconds(mlp_step, seconds) * 1e6:8.2f} µs")


class Navigation:
    """2-D navigation (Finn et al. 2017): a point from the origin towards a hidden goal in [−0.5, 0.5]²,
    actions clipped to [−0.1, 0.1], reward −distance, 100 steps; one task's trajectories side by side."""

    def __init__(self, goal, count):
        self.goal, self.count = goal, count

    def rollout(self, policy, params, rng, horizon=100):
        obs = np.zeros((self.count, 2), dtype=np.float32)
        observations = np.zeros((horizon, self.count, 2), dtype=np.float32)
        actions = np.zeros((horizon, self.count, 2), dtype=np.float32)
        rewards = np.zeros((horizon, self.count), dtype=np.float32)
        for t in range(horizon):
            with torch.no_grad():
                mean, log_std = policy(torch.from_numpy(obs), params)
                a = (mean + log_std.exp() * torch.from_numpy(rng.standard_normal(mean.shape).astype(np.float32))).numpy()
            observations[t], actions[t] = obs, a
            obs = obs + np.clip(a, -0.1, 0.1)
            rewards[t] = -np.linalg.norm(obs - self.goal, axis=1)
        return observations, actions, rewards


def linear_baseline_advantages(observations, rewards, gamma=0.99):
    """Discounted returns, the linear feature baseline (Duan et al. 2016) fitted by ridge least squares, advantages."""
    horizon, count = rewards.shape
    returns = np.zeros_like(rewards)
    running = np.zeros(count, dtype=np.float32)
    for t in reversed(range(horizon)):
        running = rewards[t] + gamma * running
        returns[t] = running
    time_feature = np.repeat((np.arange(horizon, dtype=np.float32) / 100.0)[:, None], count, axis=1)[..., None]
    features = np.concatenate([observations, observations ** 2, time_feature, time_feature ** 2, time_feature ** 3,
                               np.ones_like(time_feature)], axis=2).reshape(horizon * count, -1)
    target = returns.reshape(-1)
    coef = np.linalg.solve(features.T @ features + 1e-5 * np.eye(features.shape[1]), features.T @ target)
    advantages = target - features @ coef
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    return torch.from_numpy(advantages.astype(np.float32))


def maml(hidden_sizes, meta_batch, iterations):
    """MAML-TRPO meta-iterations on 2-D navigation, written as PyTorch MAML code is: sampling, the inner step kept in
    the graph, the meta-gradient, conjugate gradient on KL-Hessian products by double back-propagation through the
    inner step, and a backtracking line search; both cores for PyTorch's own threads."""
    torch.set_num_threads(2)
    trajectories, alpha, max_kl, cg_iterations, damping = 20, 0.1, 0.01, 10, 1e-5
    print(f"MAML-TRPO on 2-D navigation, PyTorch {torch.__version__} ({torch.get_num_threads()} threads): meta-batch {meta_batch}, "
          f"{trajectories} trajectories × 100 steps, {cg_iterations} CG iterations; median of {iterations - 1} iterations after the first")
    print(f"{'hidden':>8}{'iteration, s':>14}{'sampling, s':>13}{'step, s':>10}{'line search, s':>16}")
    for hidden in hidden_sizes:
        torch.manual_seed(1)
        rng = np.random.default_rng(1)
        layers = [nn.Linear(2, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 2)]
        theta = [p for layer in layers for p in (layer.weight, layer.bias)] + [nn.Parameter(torch.zeros(2))]

        def policy(obs, params):
            h = obs
            for i in range(3):
                h = torch.nn.functional.linear(h, params[2 * i], params[2 * i + 1])
                if i < 2:
                    h = torch.tanh(h)
            return h, params[6]

        def log_prob(params, obs, actions):
            mean, log_std = policy(obs, params)
            z = (actions - mean) / log_std.exp()
            return (-0.5 * z.pow(2) - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)

        def adapt(params, batch, create_graph):
            obs, actions, advantages = batch
            loss = -(log_prob(params, obs, actions) * advantages).mean()
            grads = torch.autograd.grad(loss, params, create_graph=create_graph)
            return [p - alpha * g for p, g in zip(params, grads)]

        def objective(params, data, with_kl_graph):
            surrogate, kl = 0.0, 0.0
            for train, valid, old_logp, old_mean in data:
                adapted = adapt(params, train, create_graph=with_kl_graph)
                obs, actions, advantages = valid
                logp = log_prob(adapted, obs, actions)
                surrogate = surrogate + (torch.exp(logp - old_logp) * advantages).mean()
                mean, log_std = policy(obs, adapted)
                # KL(old ‖ new) for Gaussians with equal old/new log σ at the expansion point.
                kl = kl + (((old_mean - mean).pow(2)) / (2 * torch.exp(2 * log_std))).sum(-1).mean()
            return surrogate / len(data), kl / len(data)

        times = []
        for iteration in range(iterations):
            start = time.perf_counter()
            data = []
            for _ in range(meta_batch):
                env = Navigation(rng.uniform(-0.5, 0.5, size=2).astype(np.float32), trajectories)
                o, a, r = env.rollout(policy, theta, rng)
                train = (torch.from_numpy(o.reshape(-1, 2)), torch.from_numpy(a.reshape(-1, 2)), linear_baseline_advantages(o, r))
                adapted = [p.detach() for p in adapt(theta, train, create_graph=False)]
                o, a, r = env.rollout(policy, adapted, rng)
                valid = (torch.from_numpy(o.reshape(-1, 2)), torch.from_numpy(a.reshape(-1, 2)), linear_baseline_advantages(o, r))
                with torch.no_grad():
                    old_logp = log_prob(adapted, valid[0], valid[1])
                    old_mean = policy(valid[0], adapted)[0]
                data.append((train, valid, old_logp, old_mean))
            sampled = time.perf_counter()

            surrogate, kl = objective(theta, data, with_kl_graph=True)
            g = torch.autograd.grad(surrogate, theta, retain_graph=True)
            g = torch.cat([x.reshape(-1) for x in g]).detach()
            grad_kl = torch.autograd.grad(kl, theta, create_graph=True)
            flat_grad_kl = torch.cat([x.reshape(-1) for x in grad_kl])

            def hvp(v):
                hv = torch.autograd.grad(flat_grad_kl @ v, theta, retain_graph=True)
                return torch.cat([x.reshape(-1) for x in hv]).detach() + damping * v

            x = torch.zeros_like(g)
            r, p = g.clone(), g.clone()
            rr = r @ r
            for _ in range(cg_iterations):
                hp = hvp(p)
                step_length = rr / (p @ hp)
                x += step_length * p
                r -= step_length * hp
                rr_new = r @ r
                p = r + (rr_new / rr) * p
                rr = rr_new
            shs = 0.5 * (x @ (g - r))
            step = x / torch.sqrt(shs / max_kl)
            stepped = time.perf_counter()

            old = [p.detach().clone() for p in theta]
            old_surrogate = surrogate.item()
            fraction = 1.0
            for _ in range(15):
                offset = 0
                with torch.no_grad():
                    for p, o in zip(theta, old):
                        p.copy_(o + fraction * step[offset:offset + p.numel()].view_as(p))
                        offset += p.numel()
                s, k = objective(theta, data, with_kl_graph=False)
                if s.item() > old_surrogate and k.item() <= max_kl:
                    break
                fraction *= 0.8
            else:
                with torch.no_grad():
                    for p, o in zip(theta, old):
                        p.copy_(o)
            end = time.perf_counter()
            times.append((end - start, sampled - start, stepped - sampled, end - stepped))
        kept = times[1:]
        print(f"{hidden:>8}" + "".join(f"{statistics.median(t[i] for t in kept):>{w}.3f}" for i, w in ((0, 14), (1, 13), (2, 10), (3, 16))))


def sac(hidden, batch, seconds):
    """One soft actor-critic update (twin critics, target critics, tuned temperature), as metarl-bench's sac section."""
    torch.manual_seed(1)
    obs_size, act_size = 17, 6

    def mlp(inputs, outputs):
        layers, last = [], inputs
        for h in hidden:
            layers += [nn.Linear(last, h), nn.ReLU()]
            last = h
        return nn.Sequential(*layers, nn.Linear(last, outputs))

    policy = mlp(obs_size, 2 * act_size)
    q1, q2 = mlp(obs_size + act_size, 1), mlp(obs_size + act_size, 1)
    q1_target, q2_target = mlp(obs_size + act_size, 1), mlp(obs_size + act_size, 1)
    q1_target.load_state_dict(q1.state_dict())
    q2_target.load_state_dict(q2.state_dict())
    log_alpha = torch.zeros(1, requires_grad=True)
    critic_params = list(q1.parameters()) + list(q2.parameters())
    target_params = list(q1_target.parameters()) + list(q2_target.parameters())
    policy_opt = torch.optim.Adam(policy.parameters(), lr=3e-4)
    critic_opt = torch.optim.Adam(critic_params, lr=3e-4)
    alpha_opt = torch.optim.Adam([log_alpha], lr=3e-4)
    o, o2 = torch.randn(batch, obs_size), torch.randn(batch, obs_size)
    a, r = torch.rand(batch, act_size) * 2 - 1, torch.randn(batch, 1)
    done = torch.zeros(batch, 1)

    def sample(x):
        mean, log_std = policy(x).split(act_size, dim=1)
        log_std = log_std.clamp(-20, 2)
        noise = torch.randn_like(mean)
        u = mean + log_std.exp() * noise
        log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * np.log(2 * np.pi)
                    - 2 * (np.log(2) - u - nn.functional.softplus(-2 * u))).sum(1, keepdim=True)
        return torch.tanh(u), log_prob

    def update():
        alpha = log_alpha.exp().item()
        with torch.no_grad():
            a2, lp2 = sample(o2)
            x2 = torch.cat([o2, a2], 1)
            y = r + 0.99 * (1 - done) * (torch.min(q1_target(x2), q2_target(x2)) - alpha * lp2)
        x = torch.cat([o, a], 1)
        critic_loss = (q1(x) - y).pow(2).mean() + (q2(x) - y).pow(2).mean()
        critic_opt.zero_grad()
        critic_loss.backward()
        critic_opt.step()
        a_pi, lp = sample(o)
        x_pi = torch.cat([o, a_pi], 1)
        policy_loss = (alpha * lp - torch.min(q1(x_pi), q2(x_pi))).mean()
        policy_opt.zero_grad()
        policy_loss.backward()
        policy_opt.step()
        alpha_loss = -(log_alpha * (lp.detach() + act_size * -1.0)).mean()
        alpha_opt.zero_grad()
        alpha_loss.backward()
        alpha_opt.step()
        with torch.no_grad():
            for t, p in zip(target_params, critic_params):
                t.mul_(0.995).add_(p, alpha=0.005)

    t = median_seconds(update, seconds)
    print(f"SAC update, batch {batch}, MLP {hidden}, 17 observations, 6 actions, {torch.get_num_threads()} threads: "
          f"{1 / t:.1f} updates/s, {t * 1000:.2f} ms/update")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", default=["all"], choices=["gru", "act", "maml", "sac", "all"])
    parser.add_argument("--sac-hidden", default="300,300,300")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hidden", default="64,128,256")
    parser.add_argument("--meta-batch", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    sections = set(args.sections)
    if "all" in sections:
        sections = {"gru", "act", "maml", "sac"}
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    print(f"PyTorch {torch.__version__}, BLAS {blas} ({'OpenBLAS' if 'openblas' in blas else 'not OpenBLAS: apt-get install libopenblas0-pthread'})")
    if "gru" in sections:
        gru(args.seconds)
    if "act" in sections:
        act(args.seconds)
    if "maml" in sections:
        maml([int(h) for h in args.hidden.split(",")], args.meta_batch, args.iterations)
    if "sac" in sections:
        sac([int(h) for h in args.sac_hidden.split(",")], args.batch, args.seconds * 5)


if __name__ == "__main__":
    main()
