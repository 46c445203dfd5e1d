using System.Reflection;
using MetaRL.Core.Evaluation;

namespace MetaRL.Core.Tasks;

/// <summary>A task family: how to build it from settings, and its classic baselines.</summary>
public sealed record TaskFamilyInfo(
    string Name,
    string Description,
    Func<IReadOnlyDictionary<string, string>?, TaskDistribution> Create,
    Func<TaskDistribution, ulong, IReadOnlyList<IMetaAgent>> Baselines)
{
    /// <summary>
    /// The settings whose default has changed, each with the default it had before its first change. A learner records
    /// these settings' values explicitly (the current default when not given), so a run keeps the tasks it was trained on;
    /// a checkpoint that does not record one was written before the change and is read with the earlier default. A
    /// setting joins this list in the version that changes its default, never later: runs made with its default before
    /// then do not record it either.
    /// </summary>
    public IReadOnlyDictionary<string, string> EarlierDefaults { get; init; } = new Dictionary<string, string>();
}

/// <summary>Task families shipped together in one assembly (MetaRL.Tasks, MetaRL.MuJoCo or a user's own).</summary>
public interface ITaskPack
{
    IEnumerable<TaskFamilyInfo> Families { get; }
}

/// <summary>
/// Marks an assembly as a task pack: <c>[assembly: TaskPack(typeof(MyPack))]</c>, where <c>MyPack</c> implements
/// <see cref="ITaskPack"/> and has a public parameterless constructor. <see cref="TaskRegistry"/> registers the pack
/// the first time it is consulted after the assembly is loaded.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class TaskPackAttribute(Type packType) : Attribute
{
    public Type PackType { get; } = packType;

    /// <summary>Where the pack's families stand in listings: lower first, then by assembly name (MetaRL's built-in pack is 0).</summary>
    public int Order { get; init; } = 100;
}

/// <summary>
/// Every task family an application can name: those of the task packs it has loaded or that sit beside it
/// (<c>MetaRL.*.dll</c> in the application's directory), and those added with <see cref="Register"/>.
/// </summary>
public static class TaskRegistry
{
    private static readonly List<TaskFamilyInfo> All = [];
    private static readonly HashSet<string> ScannedAssemblies = new(StringComparer.Ordinal);
    private static bool _probedDirectory;

    /// <summary>Every registered family, in the order their packs were found.</summary>
    public static IReadOnlyList<TaskFamilyInfo> Families
    {
        get
        {
            lock (All)
            {
                Discover();
                return All.ToArray();
            }
        }
    }

    /// <summary>Adds a family (e.g. one defined in an application). A name already registered is refused.</summary>
    public static void Register(TaskFamilyInfo family)
    {
        ArgumentNullException.ThrowIfNull(family);
        lock (All)
        {
            Discover();
            Add(family);
        }
    }

    /// <summary>The family called <paramref name="name"/>, or an error listing the valid names.</summary>
    public static TaskFamilyInfo Get(string name)
        => Families.FirstOrDefault(f => f.Name == name)
           ?? throw new SettingException($"Unknown task family '{name}'{SettingKeys.Suggestion(name, Families.Select(f => f.Name))}. Valid task families: {string.Join(", ", Families.Select(f => f.Name))} (a family of your own assembly needs --tasks-from FILE.dll).");

    /// <summary>Builds a family from its name and "key=value" settings.</summary>
    public static TaskDistribution Create(string name, IReadOnlyDictionary<string, string>? settings = null) => Get(name).Create(settings);

    /// <summary>
    /// The settings of <paramref name="family"/> with their types, defaults, ranges or choices and descriptions, read by
    /// building it with no settings; null with <paramref name="unavailable"/> saying why when it cannot be built here.
    /// </summary>
    public static IReadOnlyList<SettingDescription>? DescribeSettings(TaskFamilyInfo family, out string? unavailable)
    {
        ArgumentNullException.ThrowIfNull(family);
        TaskDistribution? built = null;
        string? error = null;
        var shapes = SettingsReader.Record(() =>
        {
            try { built = family.Create(null); }
            catch (SettingException e) { error = e.Message; }
        });
        unavailable = error;
        if (built is null) return null;
        var described = built.Settings.ToDictionary(s => s.Key, s => s.Description, StringComparer.Ordinal);
        return shapes.Select(s => s with { Description = described.TryGetValue(s.Key, out var d) ? d : "" }).ToArray();
    }

    private static void Add(TaskFamilyInfo family)
    {
        if (All.Any(f => f.Name == family.Name)) throw new ArgumentException($"A task family called '{family.Name}' is already registered.");
        All.Add(family);
    }

    // Called under the lock: registers the packs of assemblies not seen before.
    private static void Discover()
    {
        if (!_probedDirectory)
        {
            _probedDirectory = true;
            // Packs the application ships beside it, referenced or not (the compiler drops references it does not use).
            foreach (var file in SafeFiles(AppContext.BaseDirectory, "MetaRL.*.dll"))
            {
                try
                {
                    var name = AssemblyName.GetAssemblyName(file);
                    if (!AppDomain.CurrentDomain.GetAssemblies().Any(a => AssemblyName.ReferenceMatchesDefinition(a.GetName(), name)))
                        Assembly.Load(name);
                }
                catch (Exception e) when (e is BadImageFormatException or FileLoadException or FileNotFoundException) { }
            }
        }
        var found = new List<(TaskPackAttribute Pack, string Assembly)>();
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (assembly.IsDynamic || !ScannedAssemblies.Add(assembly.FullName ?? assembly.ToString())) continue;
            foreach (var attribute in assembly.GetCustomAttributes<TaskPackAttribute>())
            {
                if (!typeof(ITaskPack).IsAssignableFrom(attribute.PackType))
                    throw new InvalidOperationException($"{assembly.GetName().Name}: [TaskPack] names {attribute.PackType}, which does not implement ITaskPack.");
                found.Add((attribute, assembly.GetName().Name ?? ""));
            }
        }
        foreach (var (attribute, _) in found.OrderBy(p => p.Pack.Order).ThenBy(p => p.Assembly, StringComparer.Ordinal))
            foreach (var family in ((ITaskPack)Activator.CreateInstance(attribute.PackType)!).Families) Add(family);
    }

    private static IEnumerable<string> SafeFiles(string dir, string pattern)
    {
        try { return Directory.Exists(dir) ? Directory.GetFiles(dir, pattern).OrderBy(f => f, StringComparer.Ordinal).ToArray() : []; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }
}
