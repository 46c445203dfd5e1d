namespace MetaRL.MuJoCo;

/// <summary>
/// One simulation state (mjData) of a shared <see cref="MjModel"/>. Stepping is deterministic: the same
/// state and controls give the same next state. Errors and instabilities raise <see cref="MuJoCoException"/>;
/// after one, the state is reset before it is used again.
/// </summary>
public sealed unsafe class MjSimulation : IDisposable
{
    private readonly MjModel _model;
    private IntPtr _data;
    private bool _broken;
    private readonly long _bytes;

    public MjSimulation(MjModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _data = Native.mjs_make_data(model.Handle);
        if (_data == IntPtr.Zero) throw new MuJoCoException($"MuJoCo could not allocate a simulation: {Native.LastMessage()}");
        // Tell the collector about the native memory, so that simulations nobody disposes are finalised in time.
        _bytes = Math.Max(1, Native.mjs_data_bytes(model.Handle));
        GC.AddMemoryPressure(_bytes);
        Reset();
    }

    public MjModel Model => _model;

    private IntPtr Data => _data != IntPtr.Zero ? _data : throw new ObjectDisposedException(nameof(MjSimulation));

    public Span<double> Qpos => new(Native.mjs_qpos(Data), _model.Nq);
    public Span<double> Qvel => new(Native.mjs_qvel(Data), _model.Nv);
    public Span<double> Ctrl => new(Native.mjs_ctrl(Data), _model.Nu);
    /// <summary>Cartesian body positions (nbody × 3), valid after a step or <see cref="Forward"/>.</summary>
    public ReadOnlySpan<double> BodyPositions => new(Native.mjs_xpos(Data), _model.NBody * 3);
    public ReadOnlySpan<double> SensorData => new(Native.mjs_sensordata(Data), _model.NSensorData);
    public double Time => Native.mjs_time(Data);

    /// <summary>Back to the model's initial state (qpos0, zero velocities), positions computed.</summary>
    public void Reset()
    {
        if (Native.mjs_reset(_model.Handle, Data) != 0) throw new MuJoCoException($"MuJoCo failed to reset: {Native.LastMessage()}");
        _broken = false;
    }

    /// <summary>
    /// After the model's masses, inertias, damping or friction were changed: recomputes the model's derived constants
    /// (mj_setConst) and resets this simulation. Only for a model no other simulation is stepping at the same time.
    /// </summary>
    public void RecomputeModelConstants()
    {
        if (Native.mjs_set_const(_model.Handle, Data) != 0) Fail("recomputing the model constants");
        _broken = false;
    }

    /// <summary>Recomputes positions and derived quantities after <see cref="Qpos"/> or <see cref="Qvel"/> were set.</summary>
    public void Forward()
    {
        if (_broken) Reset();
        if (Native.mjs_forward(_model.Handle, Data) != 0) Fail("forward");
    }

    /// <summary>Applies <paramref name="controls"/> (nu values, each finite) and advances <paramref name="substeps"/> physics steps.</summary>
    public void Step(ReadOnlySpan<double> controls, int substeps = 1)
    {
        if (controls.Length != _model.Nu) throw new ArgumentException($"The model has {_model.Nu} actuators; got {controls.Length} controls.", nameof(controls));
        if (substeps < 1) throw new ArgumentOutOfRangeException(nameof(substeps), substeps, "At least one physics step.");
        for (int i = 0; i < controls.Length; i++)
            if (!double.IsFinite(controls[i])) throw new ArgumentException($"Control {i} is {controls[i]}; controls must be finite.", nameof(controls));
        if (_broken) Reset();
        int code;
        fixed (double* c = controls) code = Native.mjs_step(_model.Handle, Data, c, substeps);
        if (code == 1) Fail("step");
        if (code == 2)
        {
            _broken = true;
            throw new MuJoCoInstabilityException($"The simulation became unstable at t = {Time:G4} s (MuJoCo reset it): {Native.LastMessage()}");
        }
    }

    private void Fail(string what)
    {
        _broken = true;
        throw new MuJoCoException($"MuJoCo failed during {what}: {Native.LastMessage()}");
    }

    public void Dispose()
    {
        if (_data == IntPtr.Zero) return;
        Native.mjs_delete_data(_data);
        _data = IntPtr.Zero;
        GC.RemoveMemoryPressure(_bytes);
        GC.SuppressFinalize(this);
    }

    ~MjSimulation()
    {
        if (_data == IntPtr.Zero) return;
        Native.mjs_delete_data(_data);
        GC.RemoveMemoryPressure(_bytes);
    }
}
