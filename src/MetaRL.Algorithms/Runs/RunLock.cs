using System.Globalization;
using MetaRL.Core.Tasks;

namespace MetaRL.Algorithms.Runs;

/// <summary>
/// The operating-system lock that keeps a second process from writing a run directory in use: an exclusive lock on
/// <c>run.lock</c> (flock on Unix, a share-none handle on Windows), released when the holder disposes it or exits in any
/// way, kill -9 included. The holder's process id is written beside it, in <c>run.lock.pid</c>, so the refusal can name
/// it (the locked file itself cannot be read by another process on Unix).
/// </summary>
internal sealed class RunLock : IDisposable
{
    public const string LockFile = "run.lock", OwnerFile = "run.lock.pid";

    private readonly FileStream _handle;
    private readonly string _owner;

    private RunLock(FileStream handle, string owner)
    {
        _handle = handle;
        _owner = owner;
    }

    /// <summary>Takes the lock of <paramref name="directory"/> (which must exist), or throws naming the process that holds it.</summary>
    /// <param name="lockFile">The lock's file: <see cref="LockFile"/> for a run; a staged run's plan has its own (<see cref="StagedRun"/>).</param>
    /// <exception cref="SettingException">Another process holds the lock.</exception>
    public static RunLock Acquire(string directory, string lockFile = LockFile)
    {
        var path = Path.Combine(directory, lockFile);
        var owner = Path.Combine(directory, lockFile + ".pid");
        FileStream handle;
        try
        {
            handle = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(path))
        {
            string holder = "another process";
            try
            {
                var text = File.ReadAllText(owner).Trim();
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) holder = $"process {pid.ToString(CultureInfo.InvariantCulture)}";
            }
            catch (IOException)
            {
                // The holder has not written its id yet, or has just removed it.
            }
            throw new SettingException($"Run directory '{directory}' is in use by {holder} (it holds {path}); wait for it to finish or stop it, then try again.");
        }
        File.WriteAllText(owner, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        return new RunLock(handle, owner);
    }

    public void Dispose()
    {
        try
        {
            File.Delete(_owner);
        }
        catch (IOException)
        {
            // Best effort: a stale id file is ignored by the next holder, which overwrites it.
        }
        _handle.Dispose();
    }
}
