using System;
using System.Globalization;

namespace MetaRL.Algorithms.Export
{

    /// <summary>
    /// Builds the input row an exported recurrent (RL²) ONNX model reads at each step, from what an application sees: the
    /// observation, and after each action the action taken, its reward and whether the episode ended. The layout is the
    /// model's own (the string in its <c>metarl.input_row</c> metadata, <see cref="Parse"/>):
    /// <code>
    /// observation (O) | previous action (one-hot of N for discrete actions, the action vector otherwise) | previous reward
    ///   | previous episode ended (1/0) [| episode / episodes per trial | step / horizon]
    ///   [| previous observation (O) | has previous (1/0)] [| task features]
    /// </code>
    /// Observations go in raw: the model scales them by the statistics it was trained with. The previous action, reward and
    /// done flag are zero at the first step of a trial (and always, for a model trained without memory). A trial is a run of
    /// episodes on one task: call <see cref="StartTrial"/> when the task changes (and reset the recurrent state to zeros),
    /// never between its episodes, since the model carries what it learnt about the task across them.
    /// <para>
    /// This file depends on nothing but the base library and is written for C# 9, so it can be copied as it is into a Unity
    /// or Godot project. Not thread-safe: one instance per agent being played.
    /// </para>
    /// </summary>
    public sealed class AgentInputRow
    {
        private readonly float[] _previousAction, _previousObservation;
        private float _previousReward;
        private bool _previousDone, _hasPrevious;
        private int _episode, _step;

        public AgentInputRow(int observations, int actions, bool discrete, bool memory, bool timeInputs, int episodesPerTrial, int horizon,
            bool previousObservation, int taskFeatures = 0)
        {
            if (observations < 1) throw new ArgumentOutOfRangeException(nameof(observations), observations, "At least one observation component.");
            if (actions < 1) throw new ArgumentOutOfRangeException(nameof(actions), actions, "At least one action (component, or choice for discrete actions).");
            if (taskFeatures < 0) throw new ArgumentOutOfRangeException(nameof(taskFeatures), taskFeatures, "Task features cannot be negative.");
            if (timeInputs && (episodesPerTrial < 1 || horizon < 1))
                throw new ArgumentException($"Time inputs need the trial's episodes and the horizon (got {episodesPerTrial} and {horizon}).");
            Observations = observations;
            Actions = actions;
            Discrete = discrete;
            Memory = memory;
            TimeInputs = timeInputs;
            EpisodesPerTrial = episodesPerTrial;
            Horizon = horizon;
            PreviousObservation = previousObservation;
            TaskFeatures = taskFeatures;
            _previousAction = new float[actions];
            _previousObservation = new float[previousObservation ? observations : 0];
            Size = observations + actions + 2 + (timeInputs ? 2 : 0) + (previousObservation ? observations + 1 : 0) + taskFeatures;
            StartTrial();
        }

        public int Observations { get; }
        /// <summary>Action components, or choices for discrete actions (the row holds a one-hot of them).</summary>
        public int Actions { get; }
        public bool Discrete { get; }
        /// <summary>False for a model trained without memory: the previous action, reward and done flag stay zero.</summary>
        public bool Memory { get; }
        public bool TimeInputs { get; }
        public int EpisodesPerTrial { get; }
        public int Horizon { get; }
        /// <summary>Whether the row carries the previous observation and a has-previous flag.</summary>
        public bool PreviousObservation { get; }
        /// <summary>Task features at the end of the row (only for task-knowing oracles; 0 otherwise).</summary>
        public int TaskFeatures { get; }
        /// <summary>Values in the row: the width of the model's observation input.</summary>
        public int Size { get; }

        /// <summary>A new task: forget the previous action, reward and observation, and restart the episode and step counts.</summary>
        public void StartTrial()
        {
            Array.Clear(_previousAction, 0, _previousAction.Length);
            Array.Clear(_previousObservation, 0, _previousObservation.Length);
            _previousReward = 0;
            _previousDone = false;
            _hasPrevious = false;
            _episode = 0;
            _step = 0;
        }

        /// <summary>Writes the row for acting on <paramref name="observation"/>; <paramref name="taskFeatures"/> only for oracles.</summary>
        public void Write(ReadOnlySpan<float> observation, Span<float> row, ReadOnlySpan<float> taskFeatures = default)
        {
            if (observation.Length != Observations)
                throw new ArgumentException($"The observation has {observation.Length} values; the model reads {Observations}.", nameof(observation));
            if (row.Length != Size) throw new ArgumentException($"The row has room for {row.Length} values; the model reads {Size}.", nameof(row));
            if (taskFeatures.Length != TaskFeatures)
                throw new ArgumentException($"Got {taskFeatures.Length} task features; the model reads {TaskFeatures}.", nameof(taskFeatures));
            bool previous = _hasPrevious && Memory;
            observation.CopyTo(row);
            int k = Observations;
            var a = row.Slice(k, Actions);
            if (previous) _previousAction.CopyTo(a);
            else a.Clear();
            k += Actions;
            row[k++] = previous ? _previousReward : 0;
            row[k++] = _previousDone && Memory ? 1 : 0;
            if (TimeInputs)
            {
                row[k++] = (float)_episode / EpisodesPerTrial;
                row[k++] = (float)_step / Horizon;
            }
            if (PreviousObservation)
            {
                var p = row.Slice(k, Observations);
                if (previous) _previousObservation.CopyTo(p);
                else p.Clear();
                k += Observations;
                row[k++] = previous ? 1 : 0;
                observation.CopyTo(_previousObservation);
            }
            taskFeatures.CopyTo(row.Slice(k));
        }

        /// <summary>
        /// The outcome of the action just taken: the action (for discrete actions one value, the index chosen), its reward, and
        /// whether the episode ended (terminated or truncated). The next episode of the same trial follows unless
        /// <see cref="StartTrial"/> is called.
        /// </summary>
        public void Observe(ReadOnlySpan<float> action, float reward, bool episodeEnded)
        {
            if (Discrete)
            {
                if (action.Length != 1) throw new ArgumentException($"A discrete action is one index; got {action.Length} values.", nameof(action));
                int index = (int)action[0];
                if (index < 0 || index >= Actions || index != action[0])
                    throw new ArgumentException($"Action {action[0]} is not one of the {Actions} choices 0..{Actions - 1}.", nameof(action));
                Array.Clear(_previousAction, 0, Actions);
                _previousAction[index] = 1;
            }
            else
            {
                if (action.Length != Actions) throw new ArgumentException($"The action has {action.Length} values; the model's has {Actions}.", nameof(action));
                action.CopyTo(_previousAction);
            }
            _previousReward = reward;
            _previousDone = episodeEnded;
            _hasPrevious = true;
            if (episodeEnded)
            {
                _episode++;
                _step = 0;
            }
            else _step++;
        }

        /// <summary>Where each part of the row sits, e.g. "[0..1] observation | [2..3] previous action (one-hot) | [4] previous reward | …".</summary>
        public string Describe()
        {
            var layout = new InputRowLayout();
            void Part(int n, string what) => layout.Part(n, what);
            Part(Observations, "observation");
            Part(Actions, Discrete ? "previous action (one-hot)" : "previous action");
            Part(1, "previous reward");
            Part(1, "previous episode ended");
            if (TimeInputs)
            {
                Part(1, $"episode / {EpisodesPerTrial}");
                Part(1, $"step / {Horizon}");
            }
            if (PreviousObservation)
            {
                Part(Observations, "previous observation");
                Part(1, "has previous");
            }
            if (TaskFeatures > 0) Part(TaskFeatures, "task features");
            return layout.ToString();
        }

        /// <summary>The layout as the model's <c>metarl.input_row</c> metadata holds it (key=value pairs separated by ';').</summary>
        public override string ToString() => string.Format(CultureInfo.InvariantCulture,
            "observations={0};actions={1};discrete={2};memory={3};time={4};episodes={5};horizon={6};previous-observation={7};task-features={8};size={9}",
            Observations, Actions, Discrete ? 1 : 0, Memory ? 1 : 0, TimeInputs ? 1 : 0, EpisodesPerTrial, Horizon, PreviousObservation ? 1 : 0, TaskFeatures, Size);

        /// <summary>A helper for the layout a model's <c>metarl.input_row</c> metadata describes.</summary>
        /// <exception cref="FormatException">The text is not such a layout.</exception>
        public static AgentInputRow Parse(string layout)
        {
            if (layout is null) throw new ArgumentNullException(nameof(layout));
            var values = InputRowLayout.Values(layout);
            int Get(string key) => InputRowLayout.Get(values, key);
            var row = new AgentInputRow(Get("observations"), Get("actions"), Get("discrete") != 0, Get("memory") != 0, Get("time") != 0, Get("episodes"),
                Get("horizon"), Get("previous-observation") != 0, Get("task-features"));
            if (values.TryGetValue("size", out int size) && size != row.Size)
                throw new FormatException($"The input-row layout gives size {size}, but its parts add up to {row.Size}.");
            return row;
        }
    }

    /// <summary>What the input-row helpers share: their layouts' key=integer text, and the description of their parts.</summary>
    internal sealed class InputRowLayout
    {
        private readonly System.Collections.Generic.List<string> _parts = new System.Collections.Generic.List<string>();
        private int _next;

        /// <summary>The next <paramref name="count"/> values of the row are <paramref name="what"/>.</summary>
        public void Part(int count, string what)
        {
            _parts.Add((count == 1 ? $"[{_next}] " : $"[{_next}..{_next + count - 1}] ") + what);
            _next += count;
        }

        public override string ToString() => string.Join(" | ", _parts);

        /// <summary>The key=integer pairs of a layout, separated by ';'.</summary>
        /// <exception cref="FormatException">A pair is not key=integer.</exception>
        public static System.Collections.Generic.Dictionary<string, int> Values(string layout)
        {
            var values = new System.Collections.Generic.Dictionary<string, int>();
            foreach (var part in layout.Split(';'))
            {
                int eq = part.IndexOf('=');
                if (eq <= 0 || !int.TryParse(part.Substring(eq + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
                    throw new FormatException($"'{part}' in the input-row layout is not key=integer.");
                values[part.Substring(0, eq)] = v;
            }
            return values;
        }

        public static int Get(System.Collections.Generic.Dictionary<string, int> values, string key)
            => values.TryGetValue(key, out int v) ? v : throw new FormatException($"The input-row layout lacks '{key}'.");
    }
}
