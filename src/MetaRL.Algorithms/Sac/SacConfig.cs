using System.Globalization;
using MetaRL.Algorithms.Common;
using MetaRL.Core.Tasks;

namespace MetaRL.Algorithms.Sac;

/// <summary>
/// Settings of plain soft actor-critic (Stable-Baselines3's defaults: [256, 256] ReLU networks, Adam 3e-4, batch 256,
/// τ 0.005, γ 0.99, temperature tuned towards −|A|). An iteration plays <see cref="EpisodesPerIteration"/> episodes and
/// then takes <see cref="GradientSteps"/> updates per environment step it played.
/// </summary>
public sealed record SacConfig
{
    public int[] Hidden { get; init; } = [256, 256];
    public double LearningRate { get; init; } = 3e-4;
    public int BatchSize { get; init; } = 256;
    public double Gamma { get; init; } = 0.99;
    public double Tau { get; init; } = 0.005;
    public double RewardScale { get; init; } = 1;
    public double InitialAlpha { get; init; } = 1;
    public bool AutoAlpha { get; init; } = true;
    /// <summary>null: −|A|.</summary>
    public double? TargetEntropy { get; init; }
    public int Iterations { get; init; } = 100;
    public int EpisodesPerIteration { get; init; } = 1;
    /// <summary>Environments played side by side, each on a task of its own (a share of the iteration's episodes each).</summary>
    public int Envs { get; init; } = 1;
    public double GradientSteps { get; init; } = 1;
    /// <summary>Environment steps of uniform random actions before the policy acts and learning starts.</summary>
    public int LearningStarts { get; init; } = 100;
    public int BufferSize { get; init; } = 1_000_000;
    public bool Deterministic { get; init; } = true;

    /// <summary>The settings of the update itself.</summary>
    public SacSettings Update => new(Hidden, LearningRate, Gamma, Tau, RewardScale, TargetEntropy, InitialAlpha, AutoAlpha);

    /// <summary>Every SAC setting, declared once.</summary>
    public static SettingSchema<SacConfig> Schema { get; } = new SettingSchema<SacConfig>("sac")
        .Group("network")
        .Sizes("hidden", c => c.Hidden, (c, v) => c with { Hidden = v }, allowNone: false, "Hidden layers of the policy and of each of the twin Q networks (ReLU).")
        .Group("update")
        .Double("lr", c => c.LearningRate, (c, v) => c with { LearningRate = v }, 0, 1, "Adam's learning rate for the policy, the critics and the temperature.")
        .Int("batch", c => c.BatchSize, (c, v) => c with { BatchSize = v }, 1, 1_000_000, "Transitions per update.")
        .Double("gamma", c => c.Gamma, (c, v) => c with { Gamma = v }, 0, 1, "Discount factor.")
        .Double("tau", c => c.Tau, (c, v) => c with { Tau = v }, 0, 1, "Polyak factor of the target critics.")
        .Double("reward-scale", c => c.RewardScale, (c, v) => c with { RewardScale = v }, 1e-6, 1e6, "Rewards are multiplied by this in the critics' targets.")
        .Double("alpha", c => c.InitialAlpha, (c, v) => c with { InitialAlpha = v }, 1e-9, 1e6, "The entropy temperature at the start (kept there with auto-alpha=false).")
        .Bool("auto-alpha", c => c.AutoAlpha, (c, v) => c with { AutoAlpha = v }, "Tune the temperature towards the target entropy.")
        .Custom("target-entropy", SettingType.Text, c => c.TargetEntropy?.ToString("R", CultureInfo.InvariantCulture) ?? "auto",
            (r, c) => c with { TargetEntropy = ReadTargetEntropy(r, "sac", c.TargetEntropy) },
            "The policy entropy the temperature aims at: a number, or auto for minus the number of action dimensions.")
        .Group("training")
        .Int("iterations", c => c.Iterations, (c, v) => c with { Iterations = v }, 1, 100_000_000, "Iterations: each plays episodes-per-iteration episodes, then learns.")
        .Int("episodes-per-iteration", c => c.EpisodesPerIteration, (c, v) => c with { EpisodesPerIteration = v }, 1, 1_000_000, "Episodes played per iteration, shared among the environments.")
        .Int("envs", c => c.Envs, (c, v) => c with { Envs = v }, 1, 10_000, "Environments played side by side, each on a task of its own.")
        .Double("gradient-steps", c => c.GradientSteps, (c, v) => c with { GradientSteps = v }, 0, 1000, "Updates per environment step played.")
        .Int("learning-starts", c => c.LearningStarts, (c, v) => c with { LearningStarts = v }, 0, 100_000_000, "Environment steps of uniform random actions before the policy acts and learns.")
        .Int("buffer-size", c => c.BufferSize, (c, v) => c with { BufferSize = v }, 1, 100_000_000, "Transitions the replay buffer keeps (the oldest go first).")
        .Group("evaluation")
        .Bool("deterministic", c => c.Deterministic, (c, v) => c with { Deterministic = v }, "Evaluate with the policy's mean action (true) or by sampling (false).");

    /// <summary>SAC's per-task defaults (<c>Sac/Presets/sac.json</c>).</summary>
    public static Presets Presets { get; } = Presets.Load(typeof(SacConfig).Assembly, "MetaRL.Algorithms.Presets.sac.json", "sac");

    public SacConfig With(IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> rest)
    {
        var c = Schema.Apply(this, settings, out rest);
        if (c.Envs > c.EpisodesPerIteration)
            throw new SettingException($"sac: 'envs' ({c.Envs}) cannot exceed 'episodes-per-iteration' ({c.EpisodesPerIteration}).");
        if (c.EpisodesPerIteration % c.Envs != 0)
            throw new SettingException($"sac: 'episodes-per-iteration' ({c.EpisodesPerIteration}) must be a multiple of 'envs' ({c.Envs}).");
        return c;
    }

    public IReadOnlyDictionary<string, string> ToSettings() => Schema.Format(this);

    /// <summary>A target entropy: "auto" (null) or a finite number.</summary>
    public static double? ReadTargetEntropy(SettingsReader reader, string owner, double? fallback)
    {
        string text = reader.Text("target-entropy", fallback?.ToString("R", CultureInfo.InvariantCulture) ?? "auto");
        if (text == "auto") return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || Math.Abs(v) > 1e6)
            throw new SettingException($"{owner}: setting 'target-entropy' must be 'auto' or a number, got '{text}'.");
        return v;
    }
}
