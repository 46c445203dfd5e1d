using MetaRL.Algorithms.Pearl;
using MetaRL.Algorithms.Sac;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.Optim;
using MetaRL.Tasks.Navigation;

namespace MetaRL.Algorithms.Tests;

public sealed class PearlTests
{
    [Fact]
    public void The_posterior_is_the_product_of_the_factors_in_any_order()
    {
        var encoder = new ContextEncoder(4, 3, [8], new Rng(1));
        var rows = Tensor.RandN<float>(new Rng(2), 1, 6, 4);
        using var _ = GradMode.NoGrad();
        var (m, v) = encoder.Factors(rows);
        var (mean, variance) = encoder.Posterior(rows, 2, 3);
        for (int t = 0; t < 2; t++)
            for (int j = 0; j < 3; j++)
            {
                double precision = 0, weighted = 0;
                for (int i = 0; i < 3; i++)
                {
                    double p = 1 / v.Data[(t * 3 + i) * 3 + j];
                    precision += p;
                    weighted += p * m.Data[(t * 3 + i) * 3 + j];
                }
                Assert.Equal(1 / precision, variance.Data[t * 3 + j], 4);
                Assert.Equal(weighted / precision, mean.Data[t * 3 + j], 4);
            }
        // Reversing each task's transitions changes nothing.
        var reversed = new float[rows.Size];
        for (int t = 0; t < 2; t++)
            for (int i = 0; i < 3; i++)
                rows.Data.Slice((t * 3 + i) * 4, 4).CopyTo(reversed.AsSpan((t * 3 + 2 - i) * 4, 4));
        var (mean2, variance2) = encoder.Posterior(Tensor.FromArray(reversed, 6, 4), 2, 3);
        for (int k = 0; k < 6; k++)
        {
            Assert.Equal(mean.Data[k], mean2.Data[k], 5);
            Assert.Equal(variance.Data[k], variance2.Data[k], 5);
        }
        var kl = ContextEncoder.KlFromPrior(Tensor.FromArray(new float[] { 1, 0 }, 1, 2), Tensor.FromArray(new float[] { 1, 0.5f }, 1, 2));
        Assert.Equal(0.5 * (1 + 1 - 1 - 0) + 0.5 * (0.5 - 1 - Math.Log(0.5)), kl.ToDouble(), 5);
    }

    [Fact]
    public void A_shorter_context_counts_only_its_first_transitions()
    {
        var encoder = new ContextEncoder(4, 3, [8], new Rng(1));
        var rows = Tensor.RandN<float>(new Rng(2), 1, 10, 4);
        using var _ = GradMode.NoGrad();
        var (mean, variance) = encoder.Posterior(rows, 2, 5, [2, 5]);
        var (firstMean, firstVariance) = encoder.Posterior(Tensor.FromArray(rows.Data[..8].ToArray(), 2, 4), 1, 2);
        var (secondMean, secondVariance) = encoder.Posterior(Tensor.FromArray(rows.Data[20..].ToArray(), 5, 4), 1, 5);
        for (int j = 0; j < 3; j++)
        {
            Assert.Equal(firstMean.Data[j], mean.Data[j], 5);
            Assert.Equal(firstVariance.Data[j], variance.Data[j], 5);
            Assert.Equal(secondMean.Data[j], mean.Data[3 + j], 5);
            Assert.Equal(secondVariance.Data[j], variance.Data[3 + j], 5);
        }
        Assert.Throws<ArgumentException>(() => encoder.Posterior(rows, 2, 5, [0, 5]));
        Assert.Contains("'context-batch-min' (300) cannot exceed 'context-batch' (100)",
            Assert.Throws<SettingException>(() => MetaLearners.Create("pearl", "point-robot", new Dictionary<string, string> { ["context-batch-min"] = "300", ["context-batch"] = "100" })).Message);
    }

    /// <summary>The trainer's split (fast update, then the encoder's backward from the latent's gradient) equals one graph through encoder and critics.</summary>
    [Fact]
    public void The_encoder_learns_from_the_critics_as_through_one_graph()
    {
        int o = 3, a = 2, l = 2, tasks = 2, perTask = 5, contextRows = 4;
        var settings = new SacSettings([12], LearningRate: 1e-2, RewardScale: 5);
        var data = new Rng(3);
        var batch = new SacBatch(tasks * perTask, o, a);
        for (int i = 0; i < batch.Observations.Length; i++) { batch.Observations[i] = (float)data.Normal(); batch.Next[i] = (float)data.Normal(); }
        for (int i = 0; i < batch.Actions.Length; i++) batch.Actions[i] = (float)data.Uniform(-1, 1);
        for (int i = 0; i < batch.Rows; i++) batch.Rewards[i] = (float)data.Normal();
        var context = Tensor.RandN<float>(data, 1, tasks * contextRows, o + a + 1);
        var noise = Tensor.RandN<float>(data, 1, tasks, l);
        var rowTask = Enumerable.Range(0, batch.Rows).Select(r => r / perTask).ToArray();

        Tensor<float>?[] EncoderGrads(bool fast)
        {
            var encoder = new ContextEncoder(o + a + 1, l, [6], new Rng(7));
            var sac = new SoftActorCritic(o, a, l, settings, new Rng(8));
            var (mean, variance) = encoder.Posterior(context, tasks, contextRows);
            var z = mean + Ops.Sqrt(variance) * noise;
            var kl = 0.1 * ContextEncoder.KlFromPrior(mean, variance);
            var zRows = Ops.IndexSelect(z, 0, rowTask);
            var parameters = encoder.Parameters();
            if (fast)
            {
                var latent = zRows.ToArray();
                var grad = new float[latent.Length];
                sac.Update(batch, new Rng(9), latent, grad);
                return Autograd.Grad([zRows, kl], parameters, [Tensor.FromArray(grad, batch.Rows, l), null], allowUnused: true);
            }
            sac.UpdateReference(batch, new Rng(9), zRows, kl, parameters, new Sgd<float>(parameters, 0));
            return parameters.Select(p => p.Grad).ToArray();
        }
        var f = EncoderGrads(fast: true);
        var r = EncoderGrads(fast: false);
        for (int i = 0; i < f.Length; i++)
            for (int k = 0; k < f[i]!.Size; k++)
                Assert.True(Math.Abs(f[i]!.Data[k] - r[i]!.Data[k]) <= 1e-4 * (1 + Math.Abs(r[i]!.Data[k])), $"parameter {i}[{k}]: {f[i]!.Data[k]} vs {r[i]!.Data[k]}");
    }

    /// <summary>The agent's running posterior is the encoder's posterior of the trial's transitions, and it acts on its mean.</summary>
    [Fact]
    public void The_agent_acts_on_the_posterior_of_the_trials_own_transitions()
    {
        var learner = (PearlLearner)MetaLearners.Create("pearl", "point-robot", new Dictionary<string, string>
        {
            ["hidden"] = "8", ["encoder-hidden"] = "8", ["latent"] = "2", ["train-tasks"] = "2", ["tasks-per-iteration"] = "1", ["initial-steps"] = "0",
            ["steps-prior"] = "5", ["steps-extra-posterior"] = "0", ["gradient-steps"] = "1", ["meta-batch"] = "1", ["batch"] = "4", ["context-batch"] = "3",
            ["horizon"] = "3", ["eval-latent"] = "mean",
        }, seed: 2);
        learner.RunIteration();
        var trainer = learner.Trainer;
        var tasks = learner.Tasks;
        var session = learner.Agent().Begin(1, tasks, new Rng(1));
        session.StartTrial(0, tasks.SampleTask(new Rng(1), TaskSplit.Test));
        var obs = new float[] { 0.1f, -0.2f };
        var act = new float[2];
        var rows = new List<float>();
        var rng = new Rng(4);
        for (int step = 0; step < 3; step++)
        {
            session.Act(obs, [true], act);
            var next = new float[] { obs[0] + act[0], obs[1] + act[1] };
            float reward = (float)rng.Normal();
            rows.AddRange([obs[0], obs[1], act[0] / 0.1f, act[1] / 0.1f, reward]);
            session.Observe(act, [reward], next, [step == 2], [true]);
            obs = next;
        }
        session.Act(obs, [true], act);
        using var _ = GradMode.NoGrad();
        var (mean, _) = trainer.Encoder!.Posterior(Tensor.FromArray(rows.ToArray(), 3, 5), 1, 3);
        var expected = trainer.Sac.Policy.MeanAction(Tensor.FromArray(new[] { obs[0], obs[1], mean.Data[0], mean.Data[1] }, 1, 4));
        Assert.Equal(expected.Data[0] * 0.1f, act[0], 4);
        Assert.Equal(expected.Data[1] * 0.1f, act[1], 4);
    }

    [Fact]
    public void Pearl_refuses_discrete_actions_and_an_impossible_schedule_by_name()
    {
        Assert.Contains("continuous box", Assert.Throws<SettingException>(() => MetaLearners.Create("pearl", "bandit", new Dictionary<string, string> { ["train-tasks"] = "5", ["tasks-per-iteration"] = "2" })).Message);
        Assert.Contains("'tasks-per-iteration' (9) cannot exceed 'train-tasks' (4)",
            Assert.Throws<SettingException>(() => MetaLearners.Create("pearl", "point-robot", new Dictionary<string, string> { ["train-tasks"] = "4", ["tasks-per-iteration"] = "9" })).Message);
        Assert.Contains("continuous box", Assert.Throws<SettingException>(() => MetaLearners.Create("sac", "tabular-mdp")).Message);
    }

    [Fact]
    public void Shaped_critic_rewards_add_the_discounted_change_of_potential_and_telescope_over_an_episode()
    {
        var tasks = new PointRobotTasks(sparse: true, episodes: 2);
        const double gamma = 0.9;
        var sac = new SoftActorCritic(2, 2, 0, new SacSettings([8], Gamma: gamma), new Rng(3));
        var goal = (GoalTask)tasks.Goals(TaskSplit.Train)[0];
        var buffer = new ReplayBuffer(2, 2, 100);
        var collector = new TransitionCollector(sac, tasks, ActionMap.For(tasks, "pearl"), [[buffer]], new Rng(4), random: true)
        {
            TrainingReward = false,
            ShapingDiscount = gamma,
        };
        TrialSampler.Play(collector, tasks, [goal], [new Rng(5)], new TrialPlan(2, CheckActions: false));
        Assert.Equal(2 * tasks.Horizon, buffer.Count);

        int n = buffer.Count;
        var (obs, act, rew, critic, next, term) = (new float[n * 2], new float[n * 2], new float[n], new float[n], new float[n * 2], new float[n]);
        buffer.Sample(new Rng(6), n, obs, act, rew, critic, next, term);
        double Phi(float[] xs, int i) => -PointRobotEnv.Distance(goal, xs[2 * i], xs[2 * i + 1]);
        for (int i = 0; i < n; i++)
            Assert.Equal(rew[i] + gamma * Phi(next, i) - Phi(obs, i), critic[i], 5);

        // In the order played (the archive keeps the ring's slots, here in the order added): per episode,
        // Σ γᵗ F_t = γᵀ Φ(s_T) − Φ(s_0), the shaping's whole effect on a return.
        var archive = new MetaRL.Engine.IO.TensorArchive();
        buffer.WriteTo(archive, "b.");
        var o = archive.Get<float>("b.observations").Data.ToArray();
        var nx = archive.Get<float>("b.next").Data.ToArray();
        var sc = archive.Get<float>("b.scalars").Data.ToArray();
        for (int e = 0; e < 2; e++)
        {
            double shaping = 0, discount = 1;
            int first = e * tasks.Horizon, last = first + tasks.Horizon - 1;
            for (int t = first; t <= last; t++)
            {
                shaping += discount * (sc[3 * t + 1] - sc[3 * t]);
                discount *= gamma;
            }
            Assert.Equal(0f, o[2 * first]);
            Assert.Equal(0f, o[2 * first + 1]);
            Assert.Equal(discount * Phi(nx, last) - Phi(o, first), shaping, 4);
        }
    }

    [Fact]
    public void Critic_shaping_is_refused_on_a_family_without_a_potential()
        => Assert.Contains("'critic-shaping' needs a family with a shaping potential; 'navigation-2d' has none",
            Assert.Throws<SettingException>(() => MetaLearners.Create("pearl", "navigation-2d", new Dictionary<string, string> { ["critic-shaping"] = "true", ["train-tasks"] = "2", ["tasks-per-iteration"] = "1" })).Message);
}
