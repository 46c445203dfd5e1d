using System.Globalization;
using System.Text.Json;
using MetaRL.Core.Tasks;

namespace MetaRL.Cli.Commands;

/// <summary>
/// <c>--config FILE</c>: settings in a JSON file, one object whose keys are those of <c>--set</c> and whose values are
/// strings, numbers or booleans (e.g. <c>{"iterations": 200, "hidden": 64, "arms": 10}</c>). They are validated with
/// the same rules and messages as <c>--set</c>, which overrides them key by key.
/// </summary>
internal static class SettingsFile
{
    /// <summary>The file's settings (none when <paramref name="path"/> is null) with <paramref name="overrides"/> applied over them.</summary>
    /// <exception cref="SettingException">The file is missing, is not JSON, is not one flat object, or repeats a key.</exception>
    public static Dictionary<string, string> Merge(string? path, Dictionary<string, string> overrides)
    {
        if (path is null) return overrides;
        var merged = Read(path);
        foreach (var (k, v) in overrides) merged[k] = v;
        return merged;
    }

    public static Dictionary<string, string> Read(string path)
    {
        if (!File.Exists(path)) throw new SettingException($"--config: '{path}' does not exist.");
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SettingException($"--config: '{path}' must hold one JSON object of settings, e.g. {{\"iterations\": 200}}; it holds a {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}.");
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                string value = p.Value.ValueKind switch
                {
                    JsonValueKind.String => p.Value.GetString()!,
                    JsonValueKind.Number => p.Value.GetRawText(),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => throw new SettingException($"--config: '{path}': setting '{p.Name}' must be a string, number or boolean; it is {Article(p.Value.ValueKind)}."),
                };
                if (!settings.TryAdd(p.Name, value)) throw new SettingException($"--config: '{path}' gives setting '{p.Name}' twice.");
            }
        }
        catch (JsonException e)
        {
            throw new SettingException($"--config: '{path}' is not valid JSON: {e.Message}");
        }
        return settings;
    }

    private static string Article(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Null => "null",
        _ => kind.ToString().ToLower(CultureInfo.InvariantCulture),
    };
}
