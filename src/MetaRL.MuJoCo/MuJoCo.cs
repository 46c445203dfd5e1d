namespace MetaRL.MuJoCo;

/// <summary>A MuJoCo error (bad model, numerical failure, exhausted memory), raised instead of MuJoCo ending the process.</summary>
public class MuJoCoException(string message) : Exception(message);

/// <summary>The simulation state became non-finite or diverged; MuJoCo has reset it. Environments may end the episode.</summary>
public sealed class MuJoCoInstabilityException(string message) : MuJoCoException(message);

/// <summary>Whether MuJoCo can run here, and the one version these bindings accept.</summary>
public static class MuJoCo
{
    /// <summary>The MuJoCo release the bindings are written for (mj_version() = 222).</summary>
    public const int SupportedVersion = 222;

    public const string InstallHint = "install it with 'apt-get install -y libmujoco-dev gcc' (Debian 12: MuJoCo 2.2.2) and rebuild";

    private static readonly Lazy<string?> Problem = new(Probe, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when the shim loads, MuJoCo is version 2.2.2 and its error handlers are installed.</summary>
    public static bool IsAvailable => Problem.Value is null;

    /// <summary>Why MuJoCo cannot run (null when it can).</summary>
    public static string? UnavailableReason => Problem.Value;

    /// <summary>Throws a <see cref="MuJoCoException"/> naming the reason when MuJoCo cannot run.</summary>
    public static void EnsureAvailable()
    {
        if (Problem.Value is { } reason) throw new MuJoCoException(reason);
    }

    /// <summary>mj_version() of the loaded library.</summary>
    public static int Version { get { EnsureAvailable(); return Native.mjs_version(); } }

    private static string? Probe()
    {
        int version;
        try { version = Native.mjs_version(); }
        catch (DllNotFoundException) { return $"The MuJoCo shim (libmjshim.so) is not built or MuJoCo is not installed: {InstallHint}."; }
        catch (EntryPointNotFoundException e) { return $"The MuJoCo shim is incomplete ({e.Message}); rebuild the solution."; }
        if (version != SupportedVersion)
            return $"MuJoCo {version / 100}.{version / 10 % 10}.{version % 10} is installed; MetaRL supports only 2.2.2 (mj_version {SupportedVersion}), whose data layout the shim was written for.";
        Native.mjs_install();
        return null;
    }
}
