using MetaRL.Core.Tasks;
using MetaRL.Meta.Evaluation;
using MetaRL.Tasks.Bandits;
using MetaRL.Tasks.Control;
using MetaRL.Tasks.Mdp;
using MetaRL.Tasks.Navigation;

namespace MetaRL.Tasks;

/// <summary>A built-in task family: how to build it from settings, and its classic baselines.</summary>
public sealed record TaskFamilyInfo(
    string Name,
    string Description,
    Func<IReadOnlyDictionary<string, string>?, TaskDistribution> Create,
    Func<TaskDistribution, ulong, IReadOnlyList<IMetaAgent>> Baselines);

/// <summary>The task families that ship with MetaRL, by name.</summary>
public static class TaskRegistry
{
    private static readonly List<TaskFamilyInfo> All =
    [
        new("bandit", "k Bernoulli arms, p ~ U[0,1]; a trial is n pulls", BernoulliBanditDistribution.FromSettings, BanditBaselines.For),
        new("dependent-bandit", "two arms with p2 = 1 - p1 (easy/medium/hard presets or uniform)", DependentBanditDistribution.FromSettings, BanditBaselines.For),
        new("tabular-mdp", "random MDPs: rewards N(mu,1), mu ~ N(1,1), transitions ~ Dirichlet(1)", TabularMdpDistribution.FromSettings,
            (_, _) => [new RandomAgent(), new PsrlAgent(posteriorMean: true), new PsrlAgent(), new PsrlAgent(rewardPriorMean: 0), new TabularOracle()]),
        new("navigation-2d", "point robot reaching a hidden goal in [-0.5,0.5]^2", Navigation2DDistribution.FromSettings,
            (_, _) => [new RandomAgent()]),
        new("cartpole-physics", "cart-pole balancing with hidden masses, pole length, gravity and damping (wider held-out ranges)",
            CartPolePhysicsDistribution.FromSettings, (_, _) => [new RandomAgent()]),
        new("pendulum-physics", "pendulum swing-up with hidden mass, length, gravity and damping (wider held-out ranges)",
            PendulumPhysicsDistribution.FromSettings, (_, _) => [new RandomAgent()]),
    ];

    /// <summary>Every registered family: the built-in ones, then those added with <see cref="Register"/>.</summary>
    public static IReadOnlyList<TaskFamilyInfo> Families
    {
        get { lock (All) return All.ToArray(); }
    }

    /// <summary>
    /// Adds a family (e.g. the MuJoCo ones, which live in their own project so that this library never needs
    /// MuJoCo). A name already registered is refused.
    /// </summary>
    public static void Register(TaskFamilyInfo family)
    {
        ArgumentNullException.ThrowIfNull(family);
        lock (All)
        {
            if (All.Any(f => f.Name == family.Name)) throw new ArgumentException($"A task family called '{family.Name}' is already registered.");
            All.Add(family);
        }
    }

    /// <summary>The family called <paramref name="name"/>, or an error listing the valid names.</summary>
    public static TaskFamilyInfo Get(string name)
        => Families.FirstOrDefault(f => f.Name == name)
           ?? throw new SettingException($"Unknown task family '{name}'. Valid task families: {string.Join(", ", Families.Select(f => f.Name))}.");

    /// <summary>Builds a family from its name and "key=value" settings.</summary>
    public static TaskDistribution Create(string name, IReadOnlyDictionary<string, string>? settings = null) => Get(name).Create(settings);
}
