using MetaRL.Core.Baselines;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Core.Tests;
using MetaRL.Engine;

[assembly: TaskPack(typeof(CoinPack))]

namespace MetaRL.Core.Tests;

/// <summary>A task family small enough to reason about by hand: two arms, one of which (hidden) pays 1 per pull.</summary>
public sealed class CoinTasks(int pulls = 4, int episodes = 3) : TaskDistribution
{
    public sealed record Coin(int PayingArm) : ITask
    {
        public IReadOnlyList<KeyValuePair<string, double>> Describe() => [new("paying-arm", PayingArm)];
    }

    public override string Name => "core-test-coin";
    public override Space ObservationSpace { get; } = new Box(0, 1, 1);
    public override Space ActionSpace { get; } = new Discrete(2);
    public override int Horizon => pulls;
    public override int EpisodesPerTrial => episodes;
    public override ITask SampleTask(Rng rng, TaskSplit split) => new Coin(rng.NextInt(2));
    public override IEnv CreateEnv() => new Env();
    public override double? OracleEpisodeReturn(ITask task) => pulls;
    public override IReadOnlyList<SettingInfo> Settings => [new("horizon", $"{pulls}", "pulls per episode"), new("episodes", $"{episodes}", "episodes per trial")];

    private sealed class Env : Env<Coin>
    {
        public override Space ObservationSpace { get; } = new Box(0, 1, 1);
        public override Space ActionSpace { get; } = new Discrete(2);
        public override void Reset(Rng rng, Span<float> observation) => observation[0] = 0;
        public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
        {
            ActionSpace.Validate(action);
            observation[0] = 0;
            return new StepResult((int)action[0] == Task.PayingArm ? 1 : 0, false, false);
        }
    }
}

/// <summary>Registered through the assembly's [TaskPack] attribute, as MetaRL.Tasks and MetaRL.MuJoCo are.</summary>
public sealed class CoinPack : ITaskPack
{
    public IEnumerable<TaskFamilyInfo> Families =>
    [
        new("core-test-coin", "two arms, one pays", s =>
        {
            var (horizon, episodes) = SettingsReader.HorizonAndEpisodes("core-test-coin", s, 4, 3);
            return new CoinTasks(horizon, episodes);
        }, (_, _) => [new RandomAgent()]),
    ];
}

/// <summary>Pulls the paying arm: it reads the task, as only oracles may.</summary>
public sealed class CoinOracle : IMetaAgent
{
    public string Name => "coin oracle";

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng) => new Session(batch);

    private sealed class Session(int batch) : IAgentSession
    {
        private readonly int[] _arm = new int[batch];
        public void StartTrial(int slot, ITask task) => _arm[slot] = ((CoinTasks.Coin)task).PayingArm;
        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            for (int i = 0; i < batch; i++) actions[i] = _arm[i];
        }
        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active) { }
    }
}

/// <summary>
/// A coin whose paying arm switches once during the trial, at a step the task draws (the switch carries across
/// episodes): the hidden state moves within a trial. No closed-form oracle; the oracle agent reads the hidden state.
/// </summary>
public sealed class SwitchingCoinTasks(int pulls = 4, int episodes = 3) : TaskDistribution
{
    public sealed record SwitchingCoin(int FirstArm, int SwitchStep) : ITask
    {
        public IReadOnlyList<KeyValuePair<string, double>> Describe() => [new("first-arm", FirstArm), new("switch-step", SwitchStep)];
    }

    public override string Name => "core-test-switching-coin";
    public override Space ObservationSpace { get; } = new Box(0, 1, 1);
    public override Space ActionSpace { get; } = new Discrete(2);
    public override int Horizon => pulls;
    public override int EpisodesPerTrial => episodes;
    public override int HiddenStateSize => 1;
    public override IMetaAgent OracleAgent => new HiddenStateOracle();
    public override ITask SampleTask(Rng rng, TaskSplit split) => new SwitchingCoin(rng.NextInt(2), 1 + rng.NextInt(pulls * episodes - 1));
    public override IEnv CreateEnv() => new Env();
    public override IReadOnlyList<SettingInfo> Settings => [new("horizon", $"{pulls}", "pulls per episode"), new("episodes", $"{episodes}", "episodes per trial")];

    private sealed class Env : Env<SwitchingCoin>
    {
        private int _steps; // since the trial began: the switch does not wait for an episode's end
        public override Space ObservationSpace { get; } = new Box(0, 1, 1);
        public override Space ActionSpace { get; } = new Discrete(2);
        private int PayingArm => _steps < Task.SwitchStep ? Task.FirstArm : 1 - Task.FirstArm;
        protected override void OnTaskSet(SwitchingCoin task) => _steps = 0;
        public override void Reset(Rng rng, Span<float> observation) => observation[0] = 0;
        public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
        {
            ActionSpace.Validate(action);
            observation[0] = 0;
            double reward = (int)action[0] == PayingArm ? 1 : 0;
            _steps++;
            return new StepResult(reward, false, false);
        }
        public override void WriteHiddenState(Span<float> state) => state[0] = PayingArm;
    }
}

/// <summary>Pulls the arm the hidden state says pays now.</summary>
public sealed class HiddenStateOracle : IMetaAgent
{
    public string Name => "hidden-state oracle";

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng) => new Session(batch);

    public sealed class Session(int batch) : IAgentSession, IHiddenStateReader
    {
        private readonly float[] _arm = new float[batch];
        public int Seen { get; private set; }
        public void StartTrial(int slot, ITask task) { }
        public void SeeHiddenState(ReadOnlySpan<float> states, ReadOnlySpan<bool> active)
        {
            for (int i = 0; i < batch; i++) if (active[i]) _arm[i] = states[i];
            Seen++;
        }
        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions) => _arm.CopyTo(actions);
        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active) { }
    }
}
