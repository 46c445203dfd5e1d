using MetaRL.Algorithms.Rl2;
using MetaRL.Tasks.Games;

namespace MetaRL.Algorithms.Tests;

/// <summary>rps-bots cut to matches of 10 throws in episodes of 5: a family with groups that trains in milliseconds.</summary>
internal static class SmallRps
{
    public static Dictionary<string, string> Settings => new() { ["throws"] = "10", ["episode-throws"] = "5" };

    public static RpsBotsTasks Tasks => RpsBotsTasks.FromSettings(Settings);

    /// <summary>Every weight of a trainer's network, in parameter order (to compare runs bit for bit).</summary>
    public static float[] Weights(Rl2Trainer t) => t.Network.Parameters().SelectMany(p => p.ToArray()).ToArray();
}
