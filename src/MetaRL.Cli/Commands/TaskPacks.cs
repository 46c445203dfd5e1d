using System.Reflection;
using System.Runtime.Loader;
using MetaRL.Core.Tasks;

namespace MetaRL.Cli.Commands;

/// <summary>
/// <c>--tasks-from FILE.dll</c>: a user's assembly of task families (marked <c>[assembly: TaskPack(typeof(…))]</c>)
/// loaded into the command line, whose families then train, evaluate and list like the built-in ones. MetaRL's own
/// assemblies always come from the tool; the user's other dependencies from the assembly's folder.
/// </summary>
internal static class TaskPacks
{
    private static readonly List<string> _loaded = [];

    /// <summary>The packs loaded so far, as full paths (local workers load them too).</summary>
    public static IReadOnlyList<string> Loaded => _loaded;

    public static void Load(string path)
    {
        var full = Path.GetFullPath(path);
        if (!_loaded.Contains(full)) _loaded.Add(full);
        if (!File.Exists(full)) throw new SettingException($"--tasks-from: '{path}' does not exist.");
        Assembly assembly;
        try
        {
            var folder = Path.GetDirectoryName(full)!;
            AssemblyLoadContext.Default.Resolving += (context, name) =>
            {
                var candidate = Path.Combine(folder, name.Name + ".dll");
                return File.Exists(candidate) ? context.LoadFromAssemblyPath(candidate) : null;
            };
            assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(full);
        }
        catch (BadImageFormatException)
        {
            throw new SettingException($"--tasks-from: '{path}' is not a .NET assembly.");
        }
        catch (FileLoadException e)
        {
            throw new SettingException($"--tasks-from: '{path}' could not be loaded: {e.Message}");
        }
        if (!assembly.GetCustomAttributes<TaskPackAttribute>().Any())
            throw new SettingException($"--tasks-from: '{path}' has no [assembly: TaskPack(typeof(...))] attribute naming its task families (see examples/TaskPackExample).");
        // The registry registers packs of loaded assemblies the next time it is consulted; consult it now so that a
        // broken pack is reported here, naming the file.
        _ = TaskRegistry.Families;
    }
}
