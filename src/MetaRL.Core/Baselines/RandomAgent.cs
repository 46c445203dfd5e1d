using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Core.Baselines;

/// <summary>Uniformly random actions.</summary>
public sealed class RandomAgent : IMetaAgent
{
    public string Name => "random";

    public string ActingRule => "uniform";

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng) => new Session(tasks, rng);

    private sealed class Session(TaskDistribution tasks, Rng rng) : IAgentSession
    {
        public void StartTrial(int slot, ITask task) { }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            int size = tasks.ActionSpace.Size;
            for (int i = 0; i < active.Length; i++)
            {
                if (!active[i]) continue;
                var a = actions.Slice(i * size, size);
                switch (tasks.ActionSpace)
                {
                    case Discrete d: a[0] = rng.NextInt(d.N); break;
                    case Box box:
                        for (int j = 0; j < size; j++)
                        {
                            double lo = float.IsFinite(box.Low[j]) ? box.Low[j] : -1, hi = float.IsFinite(box.High[j]) ? box.High[j] : 1;
                            a[j] = (float)rng.Uniform(lo, hi);
                        }
                        break;
                }
            }
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active) { }
    }
}
