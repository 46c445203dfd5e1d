using MetaRL.Algorithms.Sac;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Algorithms.Pearl;

/// <summary>
/// A PEARL policy on the meta-test protocol: each episode of a trial is played with one task variable z, drawn when
/// the episode starts from the posterior of every transition the trial has shown so far (the prior N(0, I) before any),
/// or that posterior's mean (<see cref="PearlLatent.Mean"/>). So the first episode explores with a guess from the prior
/// and later ones exploit what was seen. The posterior is kept as running sums of the encoder's factors, one per
/// transition, so it costs one small encoder pass per step and no history.
/// </summary>
public sealed class PearlAgent(SoftActorCritic sac, ContextEncoder? encoder, ActionMap map, bool deterministic, PearlLatent latentRule, bool nextObservation,
    string name) : IMetaAgent
{
    public string Name => name;

    // Also read by the exporter.
    internal SoftActorCritic Sac => sac;
    internal ContextEncoder? Encoder => encoder;
    internal ActionMap Map => map;
    internal bool Deterministic => deterministic;
    internal PearlLatent LatentRule => latentRule;
    internal bool NextObservation => nextObservation;

    public string ActingRule => (deterministic ? "mean action" : "sampled") + (encoder is null ? "" : latentRule == PearlLatent.Mean ? ", posterior mean z" : ", sampled z");

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng)
    {
        if (tasks.ObservationSpace.Size != sac.ObservationSize || tasks.ActionSpace is not Box || tasks.ActionSpace.Size != sac.ActionSize)
            throw new ArgumentException($"This policy was trained for observations of size {sac.ObservationSize} and {sac.ActionSize} continuous actions; '{tasks.Name}' has {tasks.ObservationSpace.Size} and {tasks.ActionSpace}.");
        return new Session(this, batch, rng);
    }

    private sealed class Session : IAgentSession, IPolicyOutputs
    {
        private readonly PearlAgent _agent;
        private readonly Rng _rng;
        private readonly int _batch, _o, _a, _l;
        private readonly double[] _precision, _weighted;
        private readonly float[] _z, _obs, _unit, _input;
        private readonly bool[] _starting;
        private readonly float[] _outputs;

        public int PolicyOutputSize => _a;

        /// <summary>The mean action tanh(μ) with the z in use, in the environment's units.</summary>
        public ReadOnlySpan<float> PolicyOutput(int row) => _outputs.AsSpan(row * _a, _a);

        public Session(PearlAgent agent, int batch, Rng rng)
        {
            (_agent, _batch, _rng) = (agent, batch, rng);
            (_o, _a, _l) = (agent.Sac.ObservationSize, agent.Sac.ActionSize, agent.Sac.LatentSize);
            (_precision, _weighted, _z) = (new double[batch * _l], new double[batch * _l], new float[batch * _l]);
            (_obs, _unit, _input, _outputs) = (new float[batch * _o], new float[batch * _a], new float[batch * (_o + _l)], new float[batch * _a]);
            _starting = new bool[batch];
        }

        public void StartTrial(int slot, ITask task)
        {
            _precision.AsSpan(slot * _l, _l).Clear();
            _weighted.AsSpan(slot * _l, _l).Clear();
            _starting[slot] = true;
        }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            observations.CopyTo(_obs);
            int width = _o + _l;
            for (int i = 0; i < _batch; i++)
            {
                if (!active[i]) continue;
                if (_starting[i])
                {
                    _starting[i] = false;
                    DrawLatent(i);
                }
                observations.Slice(i * _o, _o).CopyTo(_input.AsSpan(i * width, _o));
                _z.AsSpan(i * _l, _l).CopyTo(_input.AsSpan(i * width + _o, _l));
            }
            SacAgent.Act(_agent.Sac, _agent.Map, Tensor.FromArray(_input, _batch, width), _rng, _agent.Deterministic, _unit, active, actions, _outputs);
        }

        /// <summary>z for the episode starting in <paramref name="slot"/>: from the prior before any transition, else from the product of the factors seen.</summary>
        private void DrawLatent(int slot)
        {
            for (int j = 0; j < _l; j++)
            {
                double precision = _precision[slot * _l + j];
                double mean = precision > 0 ? _weighted[slot * _l + j] / precision : 0, std = precision > 0 ? Math.Sqrt(1 / precision) : 1;
                _z[slot * _l + j] = (float)(_agent.LatentRule == PearlLatent.Mean ? mean : mean + std * _rng.Normal());
            }
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            if (_agent.Encoder is { } encoder)
            {
                int w = encoder.TransitionSize, count = 0;
                var rows = new float[_batch * w];
                var slots = new int[_batch];
                for (int i = 0; i < _batch; i++)
                {
                    if (!active[i]) continue;
                    var row = rows.AsSpan(count * w, w);
                    _obs.AsSpan(i * _o, _o).CopyTo(row);
                    _unit.AsSpan(i * _a, _a).CopyTo(row[_o..]);
                    row[_o + _a] = rewards[i];
                    if (_agent.NextObservation) nextObservations.Slice(i * _o, _o).CopyTo(row[(_o + _a + 1)..]);
                    slots[count++] = i;
                }
                if (count > 0)
                {
                    using var _ = GradMode.NoGrad();
                    var (mean, variance) = encoder.Factors(Tensor.FromArray(rows[..(count * w)], count, w));
                    for (int k = 0; k < count; k++)
                        for (int j = 0; j < _l; j++)
                        {
                            double p = 1.0 / variance.Data[k * _l + j];
                            _precision[slots[k] * _l + j] += p;
                            _weighted[slots[k] * _l + j] += p * mean.Data[k * _l + j];
                        }
                }
            }
            for (int i = 0; i < _batch; i++)
                if (active[i] && episodeEnded[i]) _starting[i] = true;
        }
    }
}
