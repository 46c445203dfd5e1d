using System;
using System.Globalization;

namespace MetaRL.Algorithms.Export
{

    /// <summary>
    /// Builds the input row an exported PEARL ONNX model reads at each step. The model keeps the posterior over the task
    /// variable z in its state (the sums of the factors' precisions and precision-weighted means, then the z in use) and
    /// adds the previous transition to it before acting, so the row carries that transition beside the observation:
    /// <code>
    /// observation (O) | previous observation (O) | previous action (A, the environment's units) | previous reward
    ///   [| previous next observation (O)] | has previous (1/0) | episode start (1/0) | noise (L)
    /// </code>
    /// z is drawn when an episode starts: the posterior mean plus its standard deviation times the noise (zeros: the mean;
    /// standard normal draws: a sample, as PEARL explores). The layout is the model's <c>metarl.input_row</c> metadata
    /// (<see cref="Parse"/>). Call <see cref="StartTrial"/> when the task changes (and reset the state to zeros), never
    /// between its episodes.
    /// <para>
    /// This file and AgentInputRow.cs (whose layout text it shares) depend on nothing but the base library and are written
    /// for C# 9, so they can be copied as they are into a Unity or Godot project. Not thread-safe: one instance per agent.
    /// </para>
    /// </summary>
    public sealed class PearlInputRow
    {
        private readonly float[] _previousObservation, _previousAction, _previousNext;
        private float _previousReward;
        private bool _hasPrevious, _episodeStart;

        public PearlInputRow(int observations, int actions, int latent, bool nextObservation)
        {
            if (observations < 1) throw new ArgumentOutOfRangeException(nameof(observations), observations, "At least one observation component.");
            if (actions < 1) throw new ArgumentOutOfRangeException(nameof(actions), actions, "At least one action component.");
            if (latent < 1) throw new ArgumentOutOfRangeException(nameof(latent), latent, "At least one latent component.");
            (Observations, Actions, Latent, NextObservation) = (observations, actions, latent, nextObservation);
            _previousObservation = new float[observations];
            _previousAction = new float[actions];
            _previousNext = new float[nextObservation ? observations : 0];
            Size = 2 * observations + actions + 1 + (nextObservation ? observations : 0) + 2 + latent;
            StartTrial();
        }

        public int Observations { get; }
        public int Actions { get; }
        /// <summary>Components of z (and of the noise at the end of the row).</summary>
        public int Latent { get; }
        /// <summary>Whether the transitions carry the observation each action led to (the run's context setting).</summary>
        public bool NextObservation { get; }
        /// <summary>Values in the row: the width of the model's observation input.</summary>
        public int Size { get; }
        /// <summary>Values of the model's state: the precision sums, the weighted sums and z, each <see cref="Latent"/> long.</summary>
        public int StateSize => 3 * Latent;

        /// <summary>A new task: no transition seen yet, and the next step starts an episode.</summary>
        public void StartTrial()
        {
            _hasPrevious = false;
            _episodeStart = true;
            _previousReward = 0;
            Array.Clear(_previousObservation, 0, _previousObservation.Length);
            Array.Clear(_previousAction, 0, _previousAction.Length);
            Array.Clear(_previousNext, 0, _previousNext.Length);
        }

        /// <summary>Writes the row for acting on <paramref name="observation"/>; <paramref name="noise"/> (empty: zeros) is used only when an episode starts.</summary>
        public void Write(ReadOnlySpan<float> observation, Span<float> row, ReadOnlySpan<float> noise = default)
        {
            if (observation.Length != Observations)
                throw new ArgumentException($"The observation has {observation.Length} values; the model reads {Observations}.", nameof(observation));
            if (row.Length != Size) throw new ArgumentException($"The row has room for {row.Length} values; the model reads {Size}.", nameof(row));
            if (noise.Length != 0 && noise.Length != Latent) throw new ArgumentException($"Got {noise.Length} noise values; the latent has {Latent}.", nameof(noise));
            int k = 0;
            observation.CopyTo(row);
            k += Observations;
            _previousObservation.CopyTo(row.Slice(k));
            k += Observations;
            _previousAction.CopyTo(row.Slice(k));
            k += Actions;
            row[k++] = _previousReward;
            if (NextObservation)
            {
                _previousNext.CopyTo(row.Slice(k));
                k += Observations;
            }
            row[k++] = _hasPrevious ? 1 : 0;
            row[k++] = _episodeStart ? 1 : 0;
            var n = row.Slice(k, Latent);
            if (noise.Length == 0) n.Clear();
            else noise.CopyTo(n);
            observation.CopyTo(_previousObservation);
            _episodeStart = false;
        }

        /// <summary>The outcome of the action just taken (in the environment's units): its reward, the observation it led to, and whether the episode ended.</summary>
        public void Observe(ReadOnlySpan<float> action, float reward, ReadOnlySpan<float> nextObservation, bool episodeEnded)
        {
            if (action.Length != Actions) throw new ArgumentException($"The action has {action.Length} values; the model's has {Actions}.", nameof(action));
            if (NextObservation && nextObservation.Length != Observations)
                throw new ArgumentException($"The next observation has {nextObservation.Length} values; the model reads {Observations}.", nameof(nextObservation));
            action.CopyTo(_previousAction);
            if (NextObservation) nextObservation.CopyTo(_previousNext);
            _previousReward = reward;
            _hasPrevious = true;
            if (episodeEnded) _episodeStart = true;
        }

        /// <summary>Where each part of the row sits.</summary>
        public string Describe()
        {
            var layout = new InputRowLayout();
            void Part(int n, string what) => layout.Part(n, what);
            Part(Observations, "observation");
            Part(Observations, "previous observation");
            Part(Actions, "previous action");
            Part(1, "previous reward");
            if (NextObservation) Part(Observations, "previous next observation");
            Part(1, "has previous");
            Part(1, "episode start");
            Part(Latent, "noise for z");
            return layout.ToString();
        }

        /// <summary>The layout as the model's <c>metarl.input_row</c> metadata holds it.</summary>
        public override string ToString() => string.Format(CultureInfo.InvariantCulture,
            "kind=pearl;observations={0};actions={1};latent={2};next-observation={3};size={4}", Observations, Actions, Latent, NextObservation ? 1 : 0, Size);

        /// <summary>Whether <paramref name="layout"/> describes a PEARL model's row (else it is an <see cref="AgentInputRow"/>'s).</summary>
        public static bool Describes(string layout) => layout != null && layout.StartsWith("kind=pearl;", StringComparison.Ordinal);

        /// <summary>A helper for the layout a PEARL model's <c>metarl.input_row</c> metadata describes.</summary>
        /// <exception cref="FormatException">The text is not such a layout.</exception>
        public static PearlInputRow Parse(string layout)
        {
            if (!Describes(layout)) throw new FormatException("Not a PEARL input-row layout (it starts with kind=pearl;).");
            var values = InputRowLayout.Values(layout.Substring("kind=pearl;".Length));
            int Get(string key) => InputRowLayout.Get(values, key);
            var row = new PearlInputRow(Get("observations"), Get("actions"), Get("latent"), Get("next-observation") != 0);
            if (values.TryGetValue("size", out int size) && size != row.Size)
                throw new FormatException($"The input-row layout gives size {size}, but its parts add up to {row.Size}.");
            return row;
        }
    }
}
