using MetaRL.Algorithms.Rl2;
using MetaRL.Algorithms.Runs;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Algorithms.Tests;

/// <summary>RL²'s <c>warm-start-policy-scale</c>: a warm start's policy at a higher temperature, or uniform.</summary>
public sealed class WarmStartPolicyScaleTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-warmscale-" + Guid.NewGuid().ToString("N"));

    public WarmStartPolicyScaleTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] Bandit = ["hidden=8", "trials-per-iteration=8", "minibatches=2", "iterations=3", "episodes=6"];

    // A trained source run, so that its policy is no longer the near-uniform one of initialisation.
    private string Source()
    {
        var source = Path.Combine(_dir, "source");
        using var run = RunDirectory.Create(source, "rl2", "bandit", TestSettings.Parse(Bandit), seed: 7);
        run.Learner.Learn(iterations: 3);
        run.Checkpoint();
        return source;
    }

    // The policy's logits, the value and the features for a few random input rows through a random state.
    private static (float[] Logits, float[] Value, float[] Features) Heads(IMetaLearner learner)
    {
        var net = ((Rl2Learner)learner).Trainer.Network;
        var rng = new Rng(11);
        var x = Tensor.FromSpan<float>(Enumerable.Range(0, 5 * net.InputSize).Select(_ => (float)rng.Normal()).ToArray(), 5, net.InputSize);
        var state0 = Tensor.FromSpan<float>(Enumerable.Range(0, 5 * net.StateSize).Select(_ => (float)(0.5 * rng.Normal())).ToArray(), 5, net.StateSize);
        var features = net.Features(net.Step(x, state0), x);
        return (net.Policy(features).ToArray(), net.Value(features, null).ToArray(), features.ToArray());
    }

    [Fact]
    public void A_warm_start_scales_the_loaded_policys_logits_and_keeps_the_memory_and_the_value()
    {
        var source = Source();
        var trained = Heads(MetaLearners.Load(source));
        Assert.True(trained.Logits.Max() - trained.Logits.Min() > 1e-3f, "the source policy should not be uniform");

        foreach (var scale in new[] { 0.5, 0.0 })
        {
            var path = Path.Combine(_dir, $"warm-{scale}");
            (float[] Logits, float[] Value, float[] Features) heads;
            using (var warm = RunDirectory.CreateFrom(path, source, null, TestSettings.Parse($"warm-start-policy-scale={scale}"), seed: null, weights: true))
            {
                heads = Heads(warm.Learner);
                Assert.Equal(trained.Features, heads.Features);
                Assert.Equal(trained.Value, heads.Value);
                for (int i = 0; i < heads.Logits.Length; i++)
                    Assert.Equal(scale * trained.Logits[i], heads.Logits[i], 5);
                // Saved scaled, and a resume takes the checkpoint as it is: the scale applies once, at the warm start.
                warm.Checkpoint();
            }
            using var resumed = RunDirectory.Resume(path);
            Assert.Equal(heads.Logits, Heads(resumed.Learner).Logits);
        }

        // At 1 (the default) a warm start is the loaded policy itself.
        using (var plain = RunDirectory.CreateFrom(Path.Combine(_dir, "warm-1"), source, null, TestSettings.Parse(), seed: null, weights: true))
            Assert.Equal(trained.Logits, Heads(plain.Learner).Logits);
    }

    [Fact]
    public void Without_a_warm_start_the_scale_changes_nothing()
    {
        var plain = Heads(MetaLearners.Create("rl2", "bandit", TestSettings.Parse(Bandit), seed: 7));
        var scaled = Heads(MetaLearners.Create("rl2", "bandit", TestSettings.Parse([.. Bandit, "warm-start-policy-scale=0.25"]), seed: 7));
        Assert.Equal(plain.Logits, scaled.Logits);
    }

    [Fact]
    public void Continuous_actions_and_scales_outside_0_to_1_are_refused_before_anything_is_written()
    {
        var source = Path.Combine(_dir, "nav");
        using (var run = RunDirectory.Create(source, "rl2", "navigation-2d", TestSettings.Parse("hidden=8", "trials-per-iteration=4", "minibatches=2", "iterations=1", "horizon=6", "episodes=2"), seed: 7))
            run.Checkpoint();
        var warm = Path.Combine(_dir, "nav-warm");
        var e = Assert.Throws<SettingException>(() => RunDirectory.CreateFrom(warm, source, null, TestSettings.Parse("warm-start-policy-scale=0.5"), seed: null, weights: true));
        Assert.Contains("'warm-start-policy-scale'", e.Message);
        Assert.Contains("continuous actions", e.Message);
        Assert.False(Directory.Exists(warm));

        var bandit = Source();
        foreach (var bad in new[] { "1.5", "-0.1", "NaN" })
        {
            var ex = Assert.Throws<SettingException>(() => RunDirectory.CreateFrom(warm, bandit, null, TestSettings.Parse($"warm-start-policy-scale={bad}"), seed: null, weights: true));
            Assert.Contains("warm-start-policy-scale", ex.Message);
            Assert.False(Directory.Exists(warm));
        }
    }
}
