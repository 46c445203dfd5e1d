using System.Text;

namespace MetaRL.MuJoCo;

/// <summary>
/// A compiled MuJoCo model. Many simulations may share one model (it is read-only while they step);
/// a task that changes physical parameters works on its own <see cref="Copy"/>.
/// </summary>
public sealed unsafe class MjModel : IDisposable
{
    private IntPtr _handle;

    private MjModel(IntPtr handle)
    {
        _handle = handle;
        var sizes = stackalloc int[7];
        Native.mjs_sizes(handle, sizes);
        (Nq, Nv, Nu, NBody, NGeom, NJoint, NSensorData) = (sizes[0], sizes[1], sizes[2], sizes[3], sizes[4], sizes[5], sizes[6]);
        Timestep = Native.mjs_timestep(handle);
    }

    /// <summary>Compiles an MJCF document; a malformed or invalid model raises a <see cref="MuJoCoException"/> with MuJoCo's reason.</summary>
    public static MjModel FromXml(string xml)
    {
        ArgumentNullException.ThrowIfNull(xml);
        MuJoCo.EnsureAvailable();
        var bytes = Encoding.UTF8.GetBytes(xml);
        var error = new byte[1024];
        IntPtr handle;
        fixed (byte* x = bytes)
        fixed (byte* e = error)
            handle = Native.mjs_load_xml(x, bytes.Length, e, error.Length);
        if (handle == IntPtr.Zero)
        {
            var reason = Encoding.UTF8.GetString(error, 0, Math.Max(0, Array.IndexOf(error, (byte)0))).Trim();
            throw new MuJoCoException($"MuJoCo could not compile the model: {(reason.Length > 0 ? reason : Native.LastMessage())}");
        }
        return new MjModel(handle);
    }

    /// <summary>Loads and compiles an MJCF file.</summary>
    public static MjModel FromFile(string path) => FromXml(File.ReadAllText(path));

    public int Nq { get; }
    public int Nv { get; }
    public int Nu { get; }
    public int NBody { get; }
    public int NGeom { get; }
    public int NJoint { get; }
    public int NSensorData { get; }
    public double Timestep { get; }

    internal IntPtr Handle => _handle != IntPtr.Zero ? _handle : throw new ObjectDisposedException(nameof(MjModel));

    /// <summary>An independent copy, for tasks that change masses, damping, friction or gravity.</summary>
    public MjModel Copy()
    {
        var copy = Native.mjs_copy_model(Handle);
        if (copy == IntPtr.Zero) throw new MuJoCoException($"MuJoCo could not copy the model: {Native.LastMessage()}");
        return new MjModel(copy);
    }

    /// <summary>Body masses (nbody); writable on a model no simulation is stepping.</summary>
    public Span<double> BodyMass => new(Native.mjs_body_mass(Handle), NBody);
    /// <summary>Body principal inertias (nbody × 3).</summary>
    public Span<double> BodyInertia => new(Native.mjs_body_inertia(Handle), NBody * 3);
    /// <summary>Damping of each degree of freedom (nv).</summary>
    public Span<double> DofDamping => new(Native.mjs_dof_damping(Handle), Nv);
    /// <summary>Sliding, torsional and rolling friction of each geom (ngeom × 3).</summary>
    public Span<double> GeomFriction => new(Native.mjs_geom_friction(Handle), NGeom * 3);
    /// <summary>Gravity (3).</summary>
    public Span<double> Gravity => new(Native.mjs_gravity(Handle), 3);

    /// <summary>The id of a named object of a MuJoCo type (mjtObj, e.g. 1 = body), or −1.</summary>
    public int IdOf(int objectType, string name) => Native.mjs_name2id(Handle, objectType, name);

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        Native.mjs_delete_model(_handle);
        _handle = IntPtr.Zero;
        GC.SuppressFinalize(this);
    }

    ~MjModel()
    {
        if (_handle != IntPtr.Zero) Native.mjs_delete_model(_handle);
    }
}
