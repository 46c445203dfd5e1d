using MetaRL.Core.Tasks;
using MetaRL.Core.Evaluation;

namespace MetaRL.Tasks.Bandits;

/// <summary>The classic bandit baselines, with exploration constants tuned on training tasks.</summary>
public static class BanditBaselines
{
    /// <summary>Grid for UCB1's exploration constant.</summary>
    public static readonly double[] UcbGrid = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0];

    /// <summary>Grid for ε in ε-greedy.</summary>
    public static readonly double[] EpsilonGrid = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3];

    /// <summary>Trials per candidate when tuning on training tasks.</summary>
    public const int TuningTrials = 2000;

    public static IReadOnlyList<IMetaAgent> For(TaskDistribution tasks, ulong seed)
    {
        var bandit = (BanditDistribution)tasks;
        var list = new List<IMetaAgent>
        {
            new RandomBandit(),
            new EpsilonGreedyBandit(0),
            TuneOnTrainingTasks(bandit, EpsilonGrid.Select(e => (BanditAgent)new EpsilonGreedyBandit(e)), seed),
            TuneOnTrainingTasks(bandit, UcbGrid.Select(c => (BanditAgent)new Ucb1Bandit(c)), seed),
            new ThompsonBandit(),
        };
        if (bandit.Prior == BanditPrior.IndependentUniform) list.Add(new GittinsBandit(bandit));
        if (bandit.Prior != BanditPrior.IndependentUniform || BayesOptimalBandit.IsTractable(bandit.Arms, bandit.EpisodesPerTrial))
            list.Add(new BayesOptimalBandit(bandit));
        list.Add(new OracleBandit());
        return list;
    }

    /// <summary>The candidate with the highest mean total return on training tasks (never the held-out ones).</summary>
    public static BanditAgent TuneOnTrainingTasks(BanditDistribution tasks, IEnumerable<BanditAgent> candidates, ulong seed)
    {
        BanditAgent? best = null;
        double bestReturn = double.NegativeInfinity;
        foreach (var c in candidates)
        {
            double r = MetaTest.Run(c, tasks, new MetaTestOptions(TuningTrials, seed ^ 0x7A11E5UL, Split: TaskSplit.Train)).MeanTotalReturn;
            if (r > bestReturn) (best, bestReturn) = (c, r);
        }
        return best ?? throw new ArgumentException("No candidates to tune.");
    }
}
