using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Core.Tests;

public class TrialSamplerTests
{
    /// <summary>Reward 1 a step; action 1 ends the episode at once (terminated), action 0 plays on to the horizon.</summary>
    private sealed class StopTasks : TaskDistribution
    {
        public sealed record Nothing : ITask { public IReadOnlyList<KeyValuePair<string, double>> Describe() => []; }
        public override string Name => "stop";
        public override Space ObservationSpace { get; } = new Box(0, 1, 1);
        public override Space ActionSpace { get; } = new Discrete(2);
        public override int Horizon => 3;
        public override int EpisodesPerTrial => 4;
        public override ITask SampleTask(Rng rng, TaskSplit split) => new Nothing();
        public override IEnv CreateEnv() => new Env();
        public override IReadOnlyList<SettingInfo> Settings => [];
        private sealed class Env : Env<Nothing>
        {
            public override Space ObservationSpace { get; } = new Box(0, 1, 1);
            public override Space ActionSpace { get; } = new Discrete(2);
            public override void Reset(Rng rng, Span<float> observation) => observation[0] = 0;
            public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation) => new(1, action[0] == 1, false);
        }
    }

    /// <summary>Lane 0 of every trial stops at once, lane 1 plays to the horizon; records what it is told.</summary>
    private sealed class Recorder : IAgentSession, IStepResultReader
    {
        public readonly List<string> Log = [];
        public int Terminated;
        public void StartTrial(int slot, ITask task) => Log.Add($"start {slot}");
        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            for (int l = 0; l < active.Length; l++) actions[l] = l % 2 == 0 ? 1 : 0;
            Log.Add("act " + string.Concat(active.ToArray().Select(a => a ? '1' : '0')));
        }
        public void SeeStepResults(ReadOnlySpan<StepResult> results, ReadOnlySpan<bool> active)
        {
            for (int l = 0; l < active.Length; l++) if (active[l] && results[l].Terminated) Terminated++;
        }
        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active) { }
    }

    [Fact]
    public void A_round_waits_for_all_its_lanes_and_every_episode_is_recorded_in_its_place()
    {
        var tasks = new StopTasks();
        var session = new Recorder();
        var streams = Enumerable.Range(0, 4).Select(i => new Rng((ulong)i + 1)).ToArray();
        var returns = TrialSampler.Play(session, tasks, [new StopTasks.Nothing(), new StopTasks.Nothing()], streams, new TrialPlan(Episodes: 4, LanesPerTrial: 2));
        // Each trial: two rounds of two lanes; lane 0 ends after 1 step (return 1), lane 1 after the horizon's 3.
        Assert.Equal([[1, 3, 1, 3], [1, 3, 1, 3]], returns);
        Assert.Equal(["start 0", "start 1", "act 1111", "act 0101", "act 0101", "act 1111", "act 0101", "act 0101"], session.Log);
        Assert.Equal(4, session.Terminated); // lane 0 of each trial, in each of two rounds
        // Rounds must divide the trial; one stream per lane.
        Assert.Throws<ArgumentException>(() => TrialSampler.Play(new Recorder(), tasks, [new StopTasks.Nothing()], streams[..2], new TrialPlan(3, 2)));
        Assert.Throws<ArgumentException>(() => TrialSampler.Play(new Recorder(), tasks, [new StopTasks.Nothing()], streams, new TrialPlan(4, 2)));
    }
}
