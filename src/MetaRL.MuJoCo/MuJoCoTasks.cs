using MetaRL.Core.Baselines;
using MetaRL.Core.Tasks;
using MetaRL.MuJoCo;
using MetaRL.MuJoCo.Locomotion;
using MetaRL.MuJoCo.Manipulation;

[assembly: TaskPack(typeof(MuJoCoTasks), Order = 10)]

namespace MetaRL.MuJoCo;

/// <summary>The MuJoCo task families; where MuJoCo cannot run, building one fails with a message that says why.</summary>
public sealed class MuJoCoTasks : ITaskPack
{
    public IEnumerable<TaskFamilyInfo> Families =>
    [
        new("cheetah-vel", "MuJoCo half-cheetah running at a hidden target velocity in [0, 2] m/s",
            s => Guarded(() => CheetahVelDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]),
        new("cheetah-dir", "MuJoCo half-cheetah running in a hidden direction (forward or backward)",
            s => Guarded(() => CheetahDirDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]),
        new("ant-dir", "MuJoCo ant running in a hidden direction (forward or backward)",
            s => Guarded(() => AntDirDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]),
        new("ant-goal", "MuJoCo ant walking to a hidden goal in the disk of radius 3 m",
            s => Guarded(() => AntGoalDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]),
        new("arm-payload", "MuJoCo 3-link arm reaching targets under gravity with a hidden payload mass and joint friction",
            s => Guarded(() => ArmPayloadDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]),
        new("hopper-params", "MuJoCo hopper with hidden masses, inertias, joint damping and friction (each × 1.5^u, u ~ U[−3, 3])",
            s => Guarded(() => PlanarWalkerParamsDistribution.FromSettings(PlanarWalkerSpec.Hopper, s)), (_, _) => [new RandomAgent()]),
        new("walker-params", "MuJoCo 2-D walker with hidden masses, inertias, joint damping and friction (each × 1.5^u, u ~ U[−3, 3])",
            s => Guarded(() => PlanarWalkerParamsDistribution.FromSettings(PlanarWalkerSpec.Walker2d, s)), (_, _) => [new RandomAgent()]),
    ];

    private static TaskDistribution Guarded(Func<TaskDistribution> create)
    {
        try { return create(); }
        catch (MuJoCoException e) { throw new SettingException(e.Message); }
    }
}
