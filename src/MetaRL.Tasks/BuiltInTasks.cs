using MetaRL.Core.Baselines;
using MetaRL.Core.Tasks;
using MetaRL.Tasks;
using MetaRL.Tasks.Bandits;
using MetaRL.Tasks.Control;
using MetaRL.Tasks.Games;
using MetaRL.Tasks.Glucose;
using MetaRL.Tasks.Mdp;
using MetaRL.Tasks.Navigation;
using MetaRL.Tasks.Trading;

[assembly: TaskPack(typeof(BuiltInTasks), Order = 0)]

namespace MetaRL.Tasks;

/// <summary>The task families that ship with MetaRL and need nothing but .NET.</summary>
public sealed class BuiltInTasks : ITaskPack
{
    public IEnumerable<TaskFamilyInfo> Families =>
    [
        new("bandit", "k Bernoulli arms, p ~ U[0,1]; a trial is n pulls", BernoulliBanditDistribution.FromSettings, BanditBaselines.For),
        new("dependent-bandit", "two arms with p2 = 1 - p1 (easy/medium/hard presets or uniform)", DependentBanditDistribution.FromSettings, BanditBaselines.For),
        new("tabular-mdp", "random MDPs: rewards N(mu,1), mu ~ N(1,1), transitions ~ Dirichlet(1)", TabularMdpDistribution.FromSettings,
            (_, _) => [new RandomAgent(), new PsrlAgent(posteriorMean: true), new PsrlAgent(), new PsrlAgent(rewardPriorMean: 0), new TabularOracle()]),
        new("navigation-2d", "point robot reaching a hidden goal in [-0.5,0.5]^2", Navigation2DDistribution.FromSettings,
            (_, _) => [new RandomAgent()]),
        new("point-robot", "PEARL's point robot: reach a hidden goal in [-1,1]^2 (80 training goals, 20 held out), dense reward, horizon 20",
            s => PointRobotTasks.FromSettings(false, s), (_, _) => [new RandomAgent()]),
        new("sparse-point-robot", "PEARL's sparse point robot: a hidden goal on the unit half circle rewards only within 0.2 of it (80 training goals, 20 held out), horizon 20",
            s => PointRobotTasks.FromSettings(true, s), (_, _) => [new RandomAgent()]),
        new("pendulum", "the classic pendulum swing-up with fixed physics (g = 10, m = l = 1, torque <= 2, 200 steps): one task, for plain RL",
            PendulumDistribution.FromSettings, (_, _) => [new RandomAgent()]),
        new("cartpole-physics", "cart-pole balancing with hidden masses, pole length, gravity and damping (wider held-out ranges)",
            CartPolePhysicsDistribution.FromSettings, (_, _) => [new RandomAgent()]),
        new("pendulum-physics", "pendulum swing-up with hidden mass, length, gravity and damping (wider held-out ranges)",
            PendulumPhysicsDistribution.FromSettings, (_, _) => [new RandomAgent()]),
        new("rps-bots", "repeated rock–paper–scissors against a population of opponent strategies (unseen kinds and unseen parameters held out)",
            RpsBotsTasks.FromSettings, RpsBaselines.For),
        new("arena", "an NPC against a scripted player in a small real-time duel: the player's style (rushing, kiting, camping, flanking; baiting and mixtures held out) is hidden; a trial is rounds against one player",
            ArenaTasks.FromSettings, (_, _) => [new RandomAgent(), ArenaStateMachine.Agent]) { EarlierDefaults = ArenaTasks.EarlierDefaults },
        new("glucose-insulin", "personalised insulin dosing on the UVA/Padova virtual patients: each patient's physiology is hidden; a trial is days of one patient",
            GlucoseInsulinTasks.FromSettings, (tasks, seed) => [BasalBolusAgent.BasalOnly(), BasalBolusAgent.CohortAverage(), PidAgent.Tune((GlucoseInsulinTasks)tasks, seed),
                BasalBolusAgent.OwnTherapy(), new RandomAgent()]),
        new("regime-trading", "trading a market whose regimes (bull, bear, crisis), their drifts, volatilities and switching are hidden; a trial is trading years of one market",
            RegimeTradingTasks.FromSettings, TradingBaselines.For) { EarlierDefaults = TradingRules.EarlierDefaults },
        new("price-history", "trading the user's own daily prices (CSV files): a task is one asset from one day on; training trials trade before the cut, held-out ones after it",
            PriceHistoryTasks.FromSettings, TradingBaselines.For) { EarlierDefaults = TradingRules.EarlierDefaults },
    ];
}
