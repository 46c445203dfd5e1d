using Orleans;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace MetaRL.Cluster;

/// <summary>
/// Places a worker grain on the silo its key names (the silo's address, <see cref="SiloAddress.ToParsableString"/>), so
/// the learner addresses each worker process by name; a key naming no live silo cannot be placed.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class WorkerPlacement : PlacementStrategy
{
    public static readonly WorkerPlacement Instance = new();
}

/// <summary>Marks a grain class as placed by <see cref="WorkerPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class WorkerPlacementAttribute() : PlacementAttribute(WorkerPlacement.Instance);

/// <summary>Chooses the compatible silo whose address is the grain's key.</summary>
internal sealed class WorkerPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        string key = target.GrainIdentity.Key.ToString()!;
        foreach (var silo in context.GetCompatibleSilos(target))
            if (silo.ToParsableString() == key) return Task.FromResult(silo);
        throw new OrleansException($"No live worker silo at {key}.");
    }
}
