using System.Reflection;
using System.Runtime.InteropServices;

namespace MetaRL.MuJoCo;

/// <summary>P/Invoke declarations of the C shim (native/mjshim.c); see there for what each function guarantees.</summary>
internal static unsafe partial class Native
{
    public const string Library = "mjshim";

    static Native()
    {
        // Look next to this assembly too (tests and tools load it from other folders).
        NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, (name, assembly, path) =>
        {
            if (name != Library) return IntPtr.Zero;
            var dir = Path.GetDirectoryName(typeof(Native).Assembly.Location);
            if (dir is not null && NativeLibrary.TryLoad(Path.Combine(dir, "libmjshim.so"), out var handle)) return handle;
            return NativeLibrary.TryLoad(name, assembly, path, out handle) ? handle : IntPtr.Zero;
        });
    }

    [LibraryImport(Library)] public static partial int mjs_version();
    [LibraryImport(Library)] public static partial void mjs_install();
    [LibraryImport(Library)] public static partial IntPtr mjs_last_message();
    [LibraryImport(Library)] public static partial IntPtr mjs_load_xml(byte* xml, int length, byte* error, int errorSize);
    [LibraryImport(Library)] public static partial IntPtr mjs_copy_model(IntPtr model);
    [LibraryImport(Library)] public static partial void mjs_delete_model(IntPtr model);
    [LibraryImport(Library)] public static partial IntPtr mjs_make_data(IntPtr model);
    [LibraryImport(Library)] public static partial void mjs_delete_data(IntPtr data);
    [LibraryImport(Library)] public static partial void mjs_sizes(IntPtr model, int* sizes);
    [LibraryImport(Library)] public static partial double mjs_timestep(IntPtr model);
    [LibraryImport(Library)] public static partial long mjs_data_bytes(IntPtr model);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int mjs_name2id(IntPtr model, int type, string name);
    [LibraryImport(Library)] public static partial double* mjs_body_mass(IntPtr model);
    [LibraryImport(Library)] public static partial double* mjs_body_inertia(IntPtr model);
    [LibraryImport(Library)] public static partial double* mjs_dof_damping(IntPtr model);
    [LibraryImport(Library)] public static partial double* mjs_geom_friction(IntPtr model);
    [LibraryImport(Library)] public static partial double* mjs_gravity(IntPtr model);
    [LibraryImport(Library)] public static partial double* mjs_qpos(IntPtr data);
    [LibraryImport(Library)] public static partial double* mjs_qvel(IntPtr data);
    [LibraryImport(Library)] public static partial double* mjs_ctrl(IntPtr data);
    [LibraryImport(Library)] public static partial double* mjs_xpos(IntPtr data);
    [LibraryImport(Library)] public static partial double* mjs_sensordata(IntPtr data);
    [LibraryImport(Library)] public static partial double mjs_time(IntPtr data);
    [LibraryImport(Library)] public static partial int mjs_reset(IntPtr model, IntPtr data);
    [LibraryImport(Library)] public static partial int mjs_forward(IntPtr model, IntPtr data);
    [LibraryImport(Library)] public static partial int mjs_set_const(IntPtr model, IntPtr data);
    [LibraryImport(Library)] public static partial int mjs_step(IntPtr model, IntPtr data, double* ctrl, int substeps);

    public static string LastMessage() => Marshal.PtrToStringUTF8(mjs_last_message()) ?? "";
}
