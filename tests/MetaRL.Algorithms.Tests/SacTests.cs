using MetaRL.Algorithms.Sac;
using MetaRL.Core.Learning;
using MetaRL.Engine;
using MetaRL.Engine.IO;
using MetaRL.Engine.Optim;

namespace MetaRL.Algorithms.Tests;

public sealed class SacTests
{
    private static SacBatch RandomBatch(Rng rng, int rows, int obs, int act)
    {
        var b = new SacBatch(rows, obs, act);
        for (int i = 0; i < b.Observations.Length; i++) { b.Observations[i] = (float)rng.Normal(); b.Next[i] = (float)rng.Normal(); }
        for (int i = 0; i < b.Actions.Length; i++) b.Actions[i] = (float)rng.Uniform(-1, 1);
        for (int i = 0; i < rows; i++) { b.Rewards[i] = (float)rng.Normal(); b.Terminals[i] = rng.NextDouble() < 0.2 ? 1 : 0; }
        return b;
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"{what}[{i}]: {expected[i]} vs {actual[i]}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void The_fast_update_equals_the_graph_reference_over_several_updates(int latentSize)
    {
        var settings = new SacSettings([16, 12], LearningRate: 1e-2, RewardScale: 5, InitialAlpha: 0.3);
        var fast = new SoftActorCritic(4, 2, latentSize, settings, new Rng(5));
        var reference = new SoftActorCritic(4, 2, latentSize, settings, new Rng(5));
        var data = new Rng(9);
        int rows = 32;
        var z = new float[rows * latentSize];
        for (int i = 0; i < z.Length; i++) z[i] = (float)data.Normal();
        var zGrad = new float[z.Length];
        var fastRng = new Rng(11);
        var referenceRng = new Rng(11);
        for (int step = 0; step < 4; step++)
        {
            var batch = RandomBatch(data, rows, 4, 2);
            var a = fast.Update(batch, fastRng, z, zGrad);
            Tensor<float>? latent = null;
            Tensor<float>? zParameter = null;
            if (latentSize > 0) latent = zParameter = Tensor.Parameter(Tensor.FromArray((float[])z.Clone(), rows, latentSize));
            var b = reference.UpdateReference(batch, referenceRng, latent, null, zParameter is null ? null : [zParameter],
                zParameter is null ? null : new Sgd<float>([zParameter], 0));
            Assert.Equal(b.CriticLoss, a.CriticLoss, 4);
            Assert.Equal(b.PolicyLoss, a.PolicyLoss, 4);
            Assert.Equal(b.Entropy, a.Entropy, 4);
            Assert.Equal(b.Alpha, a.Alpha, 6);
            if (zParameter is not null) AssertClose(zParameter.Grad!.Data, zGrad, 1e-4, $"latent gradient, update {step}");
            foreach (var (x, y) in fast.Policy.Parameters().Zip(reference.Policy.Parameters())) AssertClose(y.Data, x.Data, 1e-4, $"policy, update {step}");
            foreach (var (x, y) in fast.Q1.Parameters().Zip(reference.Q1.Parameters())) AssertClose(y.Data, x.Data, 1e-4, $"Q1, update {step}");
            foreach (var (x, y) in fast.Q2Target.Parameters().Zip(reference.Q2Target.Parameters())) AssertClose(y.Data, x.Data, 1e-4, $"Q2 target, update {step}");
            Assert.Equal(reference.LogAlpha.Data[0], fast.LogAlpha.Data[0], 5);
        }
        // The same random draws were used: both streams are at the same place.
        Assert.Equal(referenceRng.NextDouble(), fastRng.NextDouble());
    }

    [Fact]
    public void The_squashed_log_density_is_the_change_of_variables_of_the_gaussian()
    {
        var policy = new TanhGaussianPolicy(3, 2, [8], new Rng(1));
        var input = Tensor.RandN<float>(new Rng(2), 1, 5, 3);
        var (action, logProb) = policy.Sample(input, new Rng(3));
        var (mean, logStd) = policy.Distribution(input);
        for (int r = 0; r < 5; r++)
        {
            double expected = 0;
            for (int j = 0; j < 2; j++)
            {
                double a = action.Data[r * 2 + j], u = Math.Atanh(a), s = Math.Exp(logStd.Data[r * 2 + j]), m = mean.Data[r * 2 + j];
                expected += -0.5 * Math.Pow((u - m) / s, 2) - Math.Log(s) - 0.5 * Math.Log(2 * Math.PI) - Math.Log(1 - a * a);
            }
            Assert.Equal(expected, logProb.Data[r], 3);
        }
    }

    [Fact]
    public void The_replay_ring_keeps_the_newest_and_a_restored_one_samples_alike()
    {
        var buffer = new ReplayBuffer(2, 1, capacity: 5);
        for (int i = 0; i < 8; i++) buffer.Add([i, -i], [i / 10f], i, 2 * i, [i + 1, 0], terminal: i == 7);
        Assert.Equal(5, buffer.Count);
        Assert.Equal(8, buffer.Added);
        var obs = new float[2 * 200];
        var rewards = new float[200];
        var critic = new float[200];
        var terminal = new float[200];
        buffer.Sample(new Rng(1), 200, obs, [], rewards, critic, [], terminal);
        Assert.All(rewards, r => Assert.InRange(r, 3, 7));
        Assert.Equal(rewards.Select(r => 2 * r), critic);
        Assert.Equal(rewards.Select(r => r == 7 ? 1f : 0f), terminal);

        var archive = new TensorArchive();
        buffer.WriteTo(archive, "b.");
        var restored = new ReplayBuffer(2, 1, capacity: 5);
        restored.ReadFrom(archive, "b.", "test")();
        var again = new float[200];
        restored.Sample(new Rng(1), 200, [], [], again, [], [], []);
        Assert.Equal(rewards, again);
        Assert.Equal(8, restored.Added);
        restored.Add([9, 9], [0], 9, 9, [0, 0], false);
        buffer.Add([9, 9], [0], 9, 9, [0, 0], false);
        buffer.Sample(new Rng(4), 200, [], [], rewards, [], [], []);
        restored.Sample(new Rng(4), 200, [], [], again, [], [], []);
        Assert.Equal(rewards, again);

        var other = new ReplayBuffer(3, 1, capacity: 5);
        Assert.Contains("does not fit", Assert.Throws<CheckpointException>(() => other.ReadFrom(archive, "b.", "test")).Message);
        Assert.Contains("lacks", Assert.Throws<CheckpointException>(() => other.ReadFrom(new TensorArchive(), "b.", "test")).Message);
    }

    /// <summary>The usual figure for pendulum: soft actor-critic above −200 per episode within 20 000 environment steps.</summary>
    [Fact]
    public void Sac_swings_the_pendulum_up_within_20000_steps()
    {
        // Small networks and batches keep the test to seconds (the figure holds for the defaults too: docs/algorithms/pearl.md).
        var learner = (SacLearner)MetaLearners.Create("sac", "pendulum", new Dictionary<string, string> { ["hidden"] = "32,32", ["batch"] = "64" }, seed: 1);
        learner.Learn();
        Assert.Equal(20_000, learner.Trainer.TotalSteps);
        var result = MetaRL.Core.Evaluation.MetaTest.Run(learner.Agent(), learner.Tasks, new MetaRL.Core.Evaluation.MetaTestOptions(Trials: 100, Seed: 1));
        Assert.True(result.MeanTotalReturn >= -200, $"SAC on pendulum: {result.MeanTotalReturn:F1} per episode after 20 000 steps");
    }

    [Theory]
    [InlineData("sac", "pendulum", "hidden=8;learning-starts=10;batch=4;horizon=10;iterations=2")]
    [InlineData("pearl", "point-robot", "hidden=8;encoder-hidden=8;latent=2;train-tasks=2;tasks-per-iteration=1;initial-steps=5;steps-prior=5;steps-extra-posterior=5;gradient-steps=2;meta-batch=1;batch=4;context-batch=3;horizon=5")]
    public void A_checkpoint_that_does_not_fit_is_refused_and_changes_nothing(string algorithm, string task, string settings)
    {
        var pairs = TestSettings.Parse(settings.Split(';'));
        var learner = MetaLearners.Create(algorithm, task, pairs, seed: 1);
        learner.RunIteration();
        var path = Path.Combine(Path.GetTempPath(), $"metarl-{algorithm}-{Guid.NewGuid():N}.mrla");
        try
        {
            learner.Save(path);
            var wider = MetaLearners.Create(algorithm, task, new Dictionary<string, string>(pairs) { ["hidden"] = "9" }, seed: 2);
            var before = MetaRL.Core.Evaluation.MetaTest.Run(wider.Agent(), wider.Tasks, new MetaRL.Core.Evaluation.MetaTestOptions(Trials: 4, Seed: 1)).TrialTotals;
            Assert.Throws<CheckpointException>(() => wider.LoadState(TensorArchive.Load(path)));
            Assert.Equal(before, MetaRL.Core.Evaluation.MetaTest.Run(wider.Agent(), wider.Tasks, new MetaRL.Core.Evaluation.MetaTestOptions(Trials: 4, Seed: 1)).TrialTotals);
            Assert.Equal(0, wider.Iteration);
        }
        finally { File.Delete(path); }
    }
}
