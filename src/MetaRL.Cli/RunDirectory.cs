using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Cli;

/// <summary>
/// A training run on disk: <c>config.json</c> (algorithm, task, resolved settings, seed), <c>metrics.csv</c>,
/// <c>checkpoint.mrla</c> (latest, written atomically) and plots.
/// </summary>
internal sealed record RunConfig(string Algorithm, string Task, Dictionary<string, string> TaskSettings, Dictionary<string, string> AlgorithmSettings, ulong Seed)
{
    public const string FileName = "config.json";

    public void Save(string dir)
    {
        var o = new JsonObject
        {
            ["format"] = 1,
            ["algorithm"] = Algorithm,
            ["task"] = Task,
            ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
            ["taskSettings"] = ToJson(TaskSettings),
            ["algorithmSettings"] = ToJson(AlgorithmSettings),
        };
        var path = Path.Combine(dir, FileName);
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmp, path, overwrite: true);
    }

    private static JsonObject ToJson(Dictionary<string, string> d)
    {
        var o = new JsonObject();
        foreach (var (k, v) in d.OrderBy(kv => kv.Key, StringComparer.Ordinal)) o[k] = v;
        return o;
    }

    public static RunConfig Load(string dir)
    {
        var path = Path.Combine(dir, FileName);
        if (!Directory.Exists(dir)) throw new SettingException($"Run directory '{dir}' does not exist.");
        if (!File.Exists(path)) throw new SettingException($"'{dir}' is not a run directory: it has no {FileName}.");
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            if ((int?)o["format"] != 1) throw new SettingException($"{path}: unknown format {o["format"]}.");
            static Dictionary<string, string> Dict(JsonNode? n) => n?.AsObject().ToDictionary(kv => kv.Key, kv => (string)kv.Value!, StringComparer.Ordinal)
                                                                  ?? throw new FormatException("missing settings");
            return new RunConfig((string)o["algorithm"]!, (string)o["task"]!, Dict(o["taskSettings"]), Dict(o["algorithmSettings"]),
                ulong.Parse((string)o["seed"]!, CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or NullReferenceException or OverflowException)
        {
            throw new SettingException($"{path} is damaged: {e.Message}");
        }
    }
}
