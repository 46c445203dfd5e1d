using MetaRL.Core.Tasks;
using MetaRL.Meta.Evaluation;
using MetaRL.MuJoCo.Locomotion;
using MetaRL.MuJoCo.Manipulation;
using MetaRL.Tasks;
using MetaRL.Tasks.Mdp;

namespace MetaRL.Cli;

/// <summary>The MuJoCo task families, registered with the built-in ones; where MuJoCo cannot run they say why.</summary>
internal static class MuJoCoFamilies
{
    private static int _registered;

    public static void Register()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1) return;
        TaskRegistry.Register(new("cheetah-vel", "MuJoCo half-cheetah running at a hidden target velocity in [0, 2] m/s",
            s => Guarded(() => CheetahVelDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]));
        TaskRegistry.Register(new("cheetah-dir", "MuJoCo half-cheetah running in a hidden direction (forward or backward)",
            s => Guarded(() => CheetahDirDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]));
        TaskRegistry.Register(new("ant-dir", "MuJoCo ant running in a hidden direction (forward or backward)",
            s => Guarded(() => AntDirDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]));
        TaskRegistry.Register(new("ant-goal", "MuJoCo ant walking to a hidden goal in the disk of radius 3 m",
            s => Guarded(() => AntGoalDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]));
        TaskRegistry.Register(new("arm-payload", "MuJoCo 3-link arm reaching targets under gravity with a hidden payload mass and joint friction",
            s => Guarded(() => ArmPayloadDistribution.FromSettings(s)), (_, _) => [new RandomAgent()]));
        TaskRegistry.Register(new("hopper-params", "MuJoCo hopper with hidden masses, inertias, joint damping and friction (each × 1.5^u, u ~ U[−3, 3])",
            s => Guarded(() => PlanarWalkerParamsDistribution.FromSettings(PlanarWalkerSpec.Hopper, s)), (_, _) => [new RandomAgent()]));
        TaskRegistry.Register(new("walker-params", "MuJoCo 2-D walker with hidden masses, inertias, joint damping and friction (each × 1.5^u, u ~ U[−3, 3])",
            s => Guarded(() => PlanarWalkerParamsDistribution.FromSettings(PlanarWalkerSpec.Walker2d, s)), (_, _) => [new RandomAgent()]));
    }

    private static TaskDistribution Guarded(Func<TaskDistribution> create)
    {
        try { return create(); }
        catch (MetaRL.MuJoCo.MuJoCoException e) { throw new SettingException(e.Message); }
    }
}
