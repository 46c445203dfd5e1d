using System.CommandLine;
using System.CommandLine.Invocation;
using MetaRL.Algorithms;
using MetaRL.Algorithms.Runs;
using MetaRL.Cli.Commands;
using MetaRL.Cli.Demos;
using MetaRL.Cli.Reports;
using MetaRL.Reports;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Tasks;
using Spectre.Console;

namespace MetaRL.Cli;

internal static class Program
{
    /// <summary>Exit codes: 0 done, 1 a failure while running, 2 a usage or input error, 130 Ctrl+C, 143 SIGTERM.</summary>
    internal const int Failure = 1, UsageOrInput = 2;

    /// <summary>
    /// How wide tables are drawn when standard output is not the terminal. <c>COLUMNS</c>, when set to a width, wins.
    /// Piped to a program at a terminal (<c>metarl list | less</c>), standard error still is the terminal and gives
    /// its width; with no terminal at all (CI logs, files) tables are not wrapped at the 80 columns .NET assumes.
    /// </summary>
    private static int RedirectedWidth()
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var columns) && columns >= 40) return columns;
        if (!Console.IsErrorRedirected)
        {
            try { if (Console.WindowWidth is var terminal and >= 40) return terminal; }
            catch (IOException) { }
        }
        return 200;
    }

    private static int Main(string[] args)
    {
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = RedirectedWidth();
        var verbose = new Option<bool>("--verbose")
        {
            Description = "On an error, also print its stack trace (as does the environment variable METARL_VERBOSE=1).",
            Recursive = true,
        };
        var tasksFrom = new Option<string[]>("--tasks-from")
        {
            Description = "Load task families from this assembly (a .dll with [assembly: TaskPack(...)]; repeatable). Runs on such a family need it again for eval and --resume.",
            Recursive = true,
            Arity = ArgumentArity.ZeroOrMore,
        };
        var root = new RootCommand("MetaRL: meta-reinforcement learning on the CPU.") { verbose, tasksFrom };
        root.Subcommands.Add(DemoCommand());
        root.Subcommands.Add(ListCommand());
        root.Subcommands.Add(BaselinesCommand());
        root.Subcommands.Add(TrainCommand());
        root.Subcommands.Add(WorkerCommand());
        root.Subcommands.Add(EvalCommand());
        root.Subcommands.Add(RenderCommand());
        root.Subcommands.Add(ExportCommand());
        root.Subcommands.Add(ActCommand());
        root.Subcommands.Add(GlucoseCommand());
        var reference = new Command("reference", "Print the command-line reference as Markdown (docs/cli.md).") { Hidden = true };
        reference.SetAction(_ =>
        {
            Console.Write(Reference.Markdown(root));
            return 0;
        });
        root.Subcommands.Add(reference);
        // Errors are reported as one line: the parser's own report is the command's whole help, and the library's own
        // exception handler would print a stack trace.
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 || MisplacedOption(parse) is not null)
        {
            Console.Error.WriteLine($"error: {UsageError(parse)}");
            return UsageOrInput;
        }
        try
        {
            foreach (var assembly in parse.GetValue(tasksFrom) ?? []) TaskPacks.Load(assembly);
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception thrown)
        {
            var e = thrown is AggregateException a ? a.Flatten().InnerExceptions[0] : thrown;
            var (code, message) = Classify(e);
            Console.Error.WriteLine($"error: {message}");
            if (parse.GetValue(verbose) || Environment.GetEnvironmentVariable("METARL_VERBOSE") is "1" or "true") Console.Error.WriteLine(thrown);
            return code;
        }
    }

    /// <summary>
    /// The exit code and one-line message of an error: bad settings, arguments, checkpoints or files given by the user are
    /// input errors (2); a run that fails while working (divergence, a simulator error, a full disk) is a failure (1), as is
    /// anything unexpected, which also says how to get the stack trace for a report.
    /// </summary>
    private static (int Code, string Message) Classify(Exception e) => e switch
    {
        SettingException or CheckpointException or ArgumentException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException
            => (UsageOrInput, e.Message),
        MetaRL.Algorithms.Common.TrainingDivergedException or MetaRL.MuJoCo.MuJoCoException or IOException or InvalidOperationException
            => (Failure, e.Message),
        _ => (Failure, $"unexpected {e.GetType().Name}: {e.Message} (run with --verbose for the stack trace, and report it)"),
    };

    /// <summary>
    /// A command-line mistake in one line: an unknown option or command with the nearest valid one, or the parser's first
    /// message, then where the help is.
    /// </summary>
    private static string UsageError(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        string help = command is RootCommand ? "metarl --help" : $"metarl {command.Name} --help";
        if ((parse.UnmatchedTokens.FirstOrDefault(t => t.StartsWith('-')) ?? MisplacedOption(parse)) is { } option)
        {
            bool takesSettings = command.Options.Any(o => o.Name == "--set");
            if (takesSettings && AsSetting(parse, option, near: false) is { } set)
                return $"unknown option '{option}': '{set.Key}' is a setting, given as '--set {set.Key}={set.Value}'; see '{help}'.";
            var names = command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal));
            string suggestion = SettingKeys.Suggestion(option, names);
            if (suggestion.Length == 0 && takesSettings && AsSetting(parse, option, near: true) is { } slip)
                suggestion = $" (did you mean '--set {slip.Key}={slip.Value}'?)";
            return $"unknown option '{option}'{suggestion}; see '{help}'.";
        }
        if (command is RootCommand && parse.UnmatchedTokens.FirstOrDefault() is { } word)
        {
            return $"unknown command '{word}'{SettingKeys.Suggestion(word, command.Subcommands.Select(c => c.Name))}; see '{help}'.";
        }
        string first = string.Join(" ", parse.Errors[0].Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        return $"{first.TrimEnd('.')}; see '{help}'.";
    }

    /// <summary>
    /// An option named after a setting of an algorithm or a task family ('--iterations 100', '--risk-penalty=2'), or with
    /// <paramref name="near"/> after one by a slip ('--itrations'), as the setting and its value (VALUE when none follows);
    /// null when the option names no setting.
    /// </summary>
    private static (string Key, string Value)? AsSetting(ParseResult parse, string option, bool near)
    {
        string word = option.TrimStart('-'), value = "VALUE";
        if (word.IndexOf('=') is > 0 and var eq) (word, value) = (word[..eq], word[(eq + 1)..]);
        var keys = MetaLearners.Catalogue.SelectMany(a => a.Keys)
            .Concat(TaskRegistry.Families.SelectMany(f => TaskRegistry.DescribeSettings(f, out _)?.Select(d => d.Key) ?? []));
        string? key = near ? SettingKeys.Nearest(word, keys) : keys.Contains(word) ? word : null;
        if (key is null) return null;
        if (value == "VALUE")
        {
            var tokens = parse.Tokens.Select(t => t.Value).ToList();
            int at = tokens.IndexOf(option);
            if (at >= 0 && at + 1 < tokens.Count && !tokens[at + 1].StartsWith("--", StringComparison.Ordinal)) value = tokens[at + 1];
        }
        return (key, value);
    }

    /// <summary>
    /// A mistyped option written before a positional argument, which the parser takes for that argument's value
    /// ('metarl train --from RUN --weigths' reads '--weigths' as the algorithm); null when there is none.
    /// </summary>
    private static string? MisplacedOption(ParseResult parse)
        => parse.CommandResult.Children.OfType<System.CommandLine.Parsing.ArgumentResult>().SelectMany(a => a.Tokens)
            .Select(t => t.Value).FirstOrDefault(v => v.StartsWith("--", StringComparison.Ordinal));

    /// <summary>Parses repeated "key=value" settings.</summary>
    internal static Dictionary<string, string> ParseSettings(IEnumerable<string>? pairs)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs ?? [])
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0 || eq == pair.Length - 1)
                throw new SettingException($"--set expects key=value, got '{pair}'.");
            var key = pair[..eq].Trim();
            if (!d.TryAdd(key, pair[(eq + 1)..].Trim()))
                throw new SettingException($"Setting '{key}' is given twice.");
        }
        return d;
    }

    private static Option<string[]> SetOption() => new("--set")
    {
        Description = "A task or algorithm setting, key=value (repeatable).",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };

    private static Command ListCommand()
    {
        var name = new Argument<string?>("name") { Description = "An algorithm or a task family to show alone (default: all of them).", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print the settings as JSON (key, group, type, default, range or choices, description)." };
        var cmd = new Command("list", "List the task families and algorithms with their settings and defaults.") { name, json };
        cmd.SetAction(p =>
        {
            var families = TaskRegistry.Families.Select(f => (Family: f, Settings: TaskRegistry.DescribeSettings(f, out var why), Unavailable: why)).ToArray();
            var algorithms = MetaLearners.Catalogue.ToArray();
            if (p.GetValue(name) is { } only)
            {
                if (algorithms.Any(a => a.Name == only)) (algorithms, families) = (algorithms.Where(a => a.Name == only).ToArray(), []);
                else if (families.Any(f => f.Family.Name == only)) (algorithms, families) = ([], families.Where(f => f.Family.Name == only).ToArray());
                else
                {
                    var names = algorithms.Select(a => a.Name).Concat(families.Select(f => f.Family.Name)).ToArray();
                    throw new SettingException($"'{only}' is neither an algorithm nor a task family{SettingKeys.Suggestion(only, names)}. Algorithms: {string.Join(", ", algorithms.Select(a => a.Name))}; "
                        + $"task families: {string.Join(", ", families.Select(f => f.Family.Name))} (a family of your own assembly needs --tasks-from FILE.dll).");
                }
            }
            if (p.GetValue(json))
            {
                Console.WriteLine(ListJson(algorithms, families));
                return 0;
            }
            if (families.Length > 0)
            {
                var table = new Table().Title("Task families");
                table.AddColumns("task", "description", "settings (default)");
                foreach (var (f, settings, unavailable) in families)
                {
                    string text = settings is null ? "unavailable here: " + unavailable
                        : string.Join("\n", settings.Select(s => $"{s.Key}={s.Default}: {s.Description}"));
                    table.AddRow(f.Name, Markup.Escape(f.Description), Markup.Escape(text));
                }
                AnsiConsole.Write(table);
            }
            var allFamilies = TaskRegistry.Families.ToArray();
            foreach (var a in algorithms)
            {
                var algos = new Table().Title($"{a.Name}: {Markup.Escape(a.Description)}");
                algos.AddColumns("setting", "default (per-task defaults where they differ)", "description");
                var perTask = allFamilies.Select(f => (f.Name, Settings: a.Resolve(f.Name, new Dictionary<string, string>(), out Dictionary<string, string> _))).ToArray();
                // Settings by group, the groups in the order the algorithm first declares them.
                foreach (var group in a.Settings.GroupBy(s => s.Group))
                {
                    if (group.Key.Length > 0) algos.AddRow($"[bold]{Markup.Escape(group.Key)}[/]", "", "");
                    foreach (var s in group)
                    {
                        var special = perTask.Where(t => t.Settings[s.Key] != s.Default).Select(t => $"{t.Name}: {t.Settings[s.Key]}").ToArray();
                        algos.AddRow("  " + s.Key, Markup.Escape(special.Length == 0 ? s.Default : $"{s.Default} ({string.Join(", ", special)})"), Markup.Escape(s.Description));
                    }
                }
                AnsiConsole.Write(algos);
                if (a.Presets?.Conditional.ToArray() is { Length: > 0 } conditional)
                {
                    var when = new Table().Title($"{a.Name}: per-task defaults under a task setting (they replace the task's defaults above)");
                    when.AddColumn(new TableColumn("tasks").NoWrap()).AddColumn(new TableColumn("when").NoWrap()).AddColumn("settings, then the measurement behind them");
                    foreach (var preset in conditional)
                        when.AddRow(Markup.Escape(string.Join("\n", preset.Tasks)), Markup.Escape(string.Join("\n", preset.When.Select(w => w.Value.Describe(w.Key)))),
                            string.Concat(preset.Stages.Select((st, i) => $"[bold]stage {i + 1}[/] {Markup.Escape(st.Describe())}\n"))
                            + (preset.Stages.Count > 0 ? RunLine(preset) : "")
                            + Markup.Escape(string.Join("\n", preset.Settings.Select(kv => $"{kv.Key}={kv.Value}"))) + $"\n[dim]{Markup.Escape(preset.Measured)}[/]");
                    AnsiConsole.Write(when);
                }
            }
            return 0;
        });
        return cmd;
    }

    // The line that says where a staged preset's run starts from and what it takes as the last stage (markup).
    private static string RunLine(MetaRL.Algorithms.Common.Presets.Preset preset)
    {
        var from = preset.Stages[preset.RunFrom - 1];
        return $"[bold]stage {preset.Stages.Count + 1}[/], from stage {preset.RunFrom}'s {(from.HandsOverBest ? "best policy" : "weights")}:\n"
            + string.Concat(preset.RunSettings.Select(kv => Markup.Escape($"{kv.Key}={kv.Value}") + "\n"));
    }

    private static string ListJson(IEnumerable<MetaAlgorithm> algorithms, IEnumerable<(TaskFamilyInfo Family, IReadOnlyList<SettingDescription>? Settings, string? Unavailable)> families)
    {
        static System.Text.Json.Nodes.JsonObject Setting(SettingDescription s)
        {
            var o = new System.Text.Json.Nodes.JsonObject { ["key"] = s.Key, ["type"] = s.Type.ToString().ToLowerInvariant(), ["default"] = s.Default };
            if (s.Group.Length > 0) o["group"] = s.Group;
            if (s.Min is { } min) o["min"] = min;
            if (s.Max is { } max) o["max"] = max;
            if (s.Choices is { } choices) o["choices"] = new System.Text.Json.Nodes.JsonArray(choices.Select(c => (System.Text.Json.Nodes.JsonNode?)c).ToArray());
            o["description"] = s.Description;
            return o;
        }
        static System.Text.Json.Nodes.JsonObject Strings(IReadOnlyDictionary<string, string> d)
            => new(d.Select(kv => KeyValuePair.Create(kv.Key, (System.Text.Json.Nodes.JsonNode?)kv.Value)));
        var list = families.ToArray();
        var root = new System.Text.Json.Nodes.JsonObject
        {
            ["algorithms"] = new System.Text.Json.Nodes.JsonArray(algorithms.Select(a =>
            {
                var taskDefaults = new System.Text.Json.Nodes.JsonObject();
                foreach (var f in TaskRegistry.Families)
                {
                    var resolved = a.Resolve(f.Name, new Dictionary<string, string>(), out Dictionary<string, string> _);
                    var differing = new System.Text.Json.Nodes.JsonObject();
                    foreach (var s in a.Settings.Where(s => resolved[s.Key] != s.Default)) differing[s.Key] = resolved[s.Key];
                    if (differing.Count > 0) taskDefaults[f.Name] = differing;
                }
                return (System.Text.Json.Nodes.JsonNode?)new System.Text.Json.Nodes.JsonObject
                {
                    ["name"] = a.Name,
                    ["description"] = a.Description,
                    ["settings"] = new System.Text.Json.Nodes.JsonArray(a.Settings.Select(s => (System.Text.Json.Nodes.JsonNode?)Setting(s)).ToArray()),
                    ["taskDefaults"] = taskDefaults,
                    ["conditionalDefaults"] = new System.Text.Json.Nodes.JsonArray((a.Presets?.Conditional ?? []).Select(p => (System.Text.Json.Nodes.JsonNode?)new System.Text.Json.Nodes.JsonObject
                    {
                        ["tasks"] = new System.Text.Json.Nodes.JsonArray(p.Tasks.Select(t => (System.Text.Json.Nodes.JsonNode?)t).ToArray()),
                        ["when"] = new System.Text.Json.Nodes.JsonArray(p.When.Select(w => (System.Text.Json.Nodes.JsonNode?)w.Value.Describe(w.Key)).ToArray()),
                        ["settings"] = Strings(p.Settings),
                        ["stages"] = new System.Text.Json.Nodes.JsonArray(p.Stages.Select(st => (System.Text.Json.Nodes.JsonNode?)new System.Text.Json.Nodes.JsonObject
                        {
                            ["name"] = st.Name,
                            ["about"] = st.About,
                            ["settings"] = Strings(st.Settings),
                            ["handOver"] = MetaRL.Algorithms.Common.Presets.Stage.HandOverName(st.HandsOverBest),
                            ["from"] = st.From,
                        }).ToArray()),
                        ["runFrom"] = p.Stages.Count > 0 ? p.Stages[p.RunFrom - 1].Name : null,
                        ["runSettings"] = Strings(p.RunSettings),
                        ["measured"] = p.Measured,
                    }).ToArray()),
                };
            }).ToArray()),
            ["taskFamilies"] = new System.Text.Json.Nodes.JsonArray(list.Select(f =>
            {
                var o = new System.Text.Json.Nodes.JsonObject { ["name"] = f.Family.Name, ["description"] = f.Family.Description };
                if (f.Settings is null) o["unavailable"] = f.Unavailable;
                else o["settings"] = new System.Text.Json.Nodes.JsonArray(f.Settings.Select(s => (System.Text.Json.Nodes.JsonNode?)Setting(s)).ToArray());
                return (System.Text.Json.Nodes.JsonNode?)o;
            }).ToArray()),
        };
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    private static Command BaselinesCommand()
    {
        var task = new Argument<string>("task") { Description = "Task family (see 'metarl list')." };
        var set = SetOption();
        var trials = new Option<int>("--trials") { Description = "Held-out trials.", DefaultValueFactory = _ => 1000 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the held-out tasks.", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print one JSON array of results instead of a table." };
        var outDir = new Option<string?>("--out") { Description = "Also write baselines.csv, baselines.json and baselines.png here (and baselines-trace.png for a family that records traces)." };
        var cmd = new Command("baselines", "Evaluate the classic baselines of a task family on held-out tasks.") { task, set, trials, seed, json, outDir };
        trials.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--trials must be at least 1."); });
        cmd.SetAction(p =>
        {
            var family = TaskRegistry.Get(p.GetValue(task)!);
            var dist = family.Create(ParseSettings(p.GetValue(set)));
            var options = new MetaTestOptions(p.GetValue(trials), p.GetValue(seed));
            var results = new List<MetaTestResult>();
            var agents = family.Baselines(dist, options.Seed);
            foreach (var agent in agents)
                results.Add(MetaTest.Run(agent, dist, options));
            string title = $"{dist.Name}: baselines ({dist.SettingsText()})";
            if (p.GetValue(json)) Console.WriteLine(MetaTestResult.ToJson(results));
            else
            {
                Report.PrintTable(results, title);
                Report.PrintDetails(results, dist);
            }
            if (p.GetValue(outDir) is { } dir)
            {
                EvaluationReport.WriteAll(dir, "baselines", results, title, dist.EpisodeMetrics);
                if (dist.TraceChannels.Count > 0 && results.Count > 0)
                {
                    // The best baseline by total return leads the trace; the next best are drawn beside it.
                    var order = Enumerable.Range(0, results.Count).OrderByDescending(i => results[i].MeanTotalReturn).ToArray();
                    Report.WriteTrace(Path.Combine(dir, "baselines-trace.png"), dist, options, order.Select(i => results[i]).ToArray(), order.Select(i => agents[i]).ToArray());
                }
            }
            return 0;
        });
        return cmd;
    }

    private static Command TrainCommand()
    {
        var algo = new Argument<string?>("algorithm") { Description = $"One of {string.Join(", ", MetaLearners.Catalogue.Select(a => a.Name))}.", Arity = ArgumentArity.ZeroOrOne };
        var task = new Argument<string?>("task") { Description = "Task family (see 'metarl list').", Arity = ArgumentArity.ZeroOrOne };
        var set = SetOption();
        var seed = new Option<ulong>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1 };
        var outDir = new Option<string?>("--out") { Description = "Run directory (must be new or empty)." };
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue the run in this directory from its checkpoint (with --set iterations=N to train longer; "
                + "RL²'s linear learning-rate and entropy schedules then stretch to the new total).",
        };
        var every = new Option<int>("--checkpoint-every") { Description = "Iterations between checkpoints.", DefaultValueFactory = _ => 50 };
        every.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--checkpoint-every must be at least 1."); });
        var from = new Option<string?>("--from") { Description = "Start a new run with this run's algorithm, task, resolved settings and seed (--set and --seed change them)." };
        var counterpart = new Option<string?>("--counterpart")
        {
            Description = "With --from: train the run's comparison agent with the same network and heads: multi-task (cannot adapt) or oracle (told the task).",
        };
        var weights = new Option<bool>("--weights")
        {
            Description = "With --from: start from that run's network weights (a warm start; the optimiser, schedules and iterations start afresh), "
                + "e.g. a run of one player style trained on with --set style=all; settings that change the networks' shapes cannot change.",
        };
        var force = new Option<bool>("--force") { Description = "With --resume: continue even though metrics.csv is missing (its history starts afresh)." };
        var noStages = new Option<bool>("--no-stages")
        {
            Description = "Where the task's preset trains in stages (a curriculum: runs of their own first, the run from the last one's weights; 'metarl list' shows them), train the run alone from scratch.",
        };
        var config = new Option<string?>("--config")
        {
            Description = "A JSON file of settings, one object of key: value with the keys of --set (task and algorithm settings); --set overrides it.",
        };
        var workers = new Option<int?>("--workers")
        {
            Description = "RL² and MAML: play the rollouts on N worker processes started on this machine (a local Orleans cluster); the run is the one a single process trains.",
        };
        var cluster = new Option<string?>("--cluster")
        {
            Description = "RL² and MAML: play the rollouts on the workers of a cluster: HOST:PORT, this learner's address (workers join with 'metarl worker --cluster HOST:PORT'), or redis://HOST:PORT.",
        };
        var workerTimeout = new Option<int>("--worker-timeout")
        {
            Description = "With --workers or --cluster: seconds to wait for a piece of an iteration before playing it on another worker.",
            DefaultValueFactory = _ => 600,
        };
        workerTimeout.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--worker-timeout must be at least 1 second."); });
        var cmd = new Command("train", "Meta-train an algorithm on a task family into a run directory.")
            { algo, task, set, seed, outDir, resume, every, from, counterpart, weights, force, noStages, config, workers, cluster, workerTimeout };
        cmd.SetAction(p => Training.Train(p.GetValue(algo), p.GetValue(task), SettingsFile.Merge(p.GetValue(config), ParseSettings(p.GetValue(set))),
            p.GetResult(seed) is { Implicit: false } ? p.GetValue(seed) : null,
            p.GetValue(outDir), p.GetValue(resume), p.GetValue(every), p.GetValue(from), p.GetValue(counterpart), p.GetValue(force),
            new Training.ClusterChoice(p.GetValue(workers), p.GetValue(cluster), TimeSpan.FromSeconds(p.GetValue(workerTimeout))), p.GetValue(weights), p.GetValue(noStages)));
        return cmd;
    }

    private static Command WorkerCommand()
    {
        var cluster = new Option<string>("--cluster")
        {
            Description = "The cluster to join: the learner's HOST:PORT (as given to 'metarl train --cluster'), or redis://HOST:PORT.",
            Required = true,
        };
        var port = new Option<int>("--port") { Description = "This worker's silo port (0: any free port).", DefaultValueFactory = _ => 0 };
        var advertise = new Option<string?>("--advertise") { Description = "This machine's IP address as the learner reaches it (default: the one on the route to the learner)." };
        var threads = new Option<int?>("--threads") { Description = "Threads this worker uses (default: every core, or METARL_THREADS)." };
        var parent = new Option<int?>("--parent") { Description = "Leave the cluster when this process exits (set by 'train --workers').", Hidden = true };
        var cmd = new Command("worker", "Join a training cluster as a rollout worker: play pieces of RL² and MAML iterations for 'metarl train --cluster'.")
            { cluster, port, advertise, threads, parent };
        cmd.SetAction(p => Workers.Run(p.GetValue(cluster)!, p.GetValue(port), p.GetValue(advertise), p.GetValue(threads), p.GetValue(parent)));
        return cmd;
    }

    private static Command EvalCommand()
    {
        var dir = new Argument<string>("run") { Description = "A run directory written by 'metarl train', or a checkpoint file (.mrla) on its own." };
        var set = SetOption();
        var trials = new Option<int?>("--trials") { Description = "Held-out trials (default: 1000 for RL², PEARL and SAC runs, 40 tasks for MAML runs)." };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the held-out tasks.", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var baselines = new Option<bool>("--baselines") { Description = "Also evaluate the task family's baselines on the same tasks." };
        var pretrained = new Option<string?>("--pretrained")
        {
            Description = "MAML only: a run trained with inner-steps=0 (a non-adaptive multi-task policy) to fine-tune with the same steps as a baseline.",
        };
        var compare = new Option<string[]>("--compare")
        {
            Description = "Not for MAML runs: other runs on the same task family to play the same held-out trials: RL², PEARL or SAC runs (e.g. RL² with memory=false, PEARL with latent=0), or MAML runs, whose policy plays every episode with fixed weights (a non-adaptive multi-task policy when trained with inner-steps=0).",
            Arity = ArgumentArity.ZeroOrMore,
            AllowMultipleArgumentsPerToken = true,
        };
        var outDir = new Option<string?>("--out") { Description = "Write the evaluation's CSV, JSON and plot into this directory (created if needed) instead of the run directory." };
        trials.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--trials must be at least 1."); });
        var cmd = new Command("eval", "Meta-test a trained run on held-out tasks: return per episode of a trial.") { dir, set, trials, seed, json, baselines, pretrained, compare, outDir };
        cmd.SetAction(p =>
        {
            var runDir = p.GetValue(dir)!;
            var others = p.GetValue(compare) ?? [];
            if (AlgorithmOf(runDir) == "maml")
            {
                if (others.Length > 0) throw new SettingException("--compare applies to RL², PEARL and SAC runs; for MAML use --pretrained and --baselines.");
                return MamlStepEvaluation.Evaluate(runDir, ParseSettings(p.GetValue(set)), p.GetValue(trials),
                    p.GetValue(seed), p.GetValue(json), p.GetValue(baselines), p.GetValue(pretrained), p.GetValue(outDir));
            }
            if (p.GetValue(pretrained) is not null)
                throw new SettingException($"--pretrained applies to MAML runs (a multi-task policy fine-tuned by gradient steps); this run is {AlgorithmOf(runDir)}.");
            var options = new MetaTestOptions(p.GetValue(trials) ?? 1000, p.GetValue(seed));
            var learner = EpisodeEvaluation.Load(runDir, ParseSettings(p.GetValue(set)), out var file, out var described);
            // Every compared run is loaded and checked before any is played, so a mismatch costs no evaluation.
            var compared = new Dictionary<string, (IMetaLearner Learner, LearnerCheckpoint.Description Described)>();
            foreach (var other in others.Where(o => AlgorithmOf(o) != "maml"))
            {
                var otherLearner = EpisodeEvaluation.Load(other, ParseSettings(p.GetValue(set)), out _, out var otherDescribed);
                if (CompareMismatch(other, otherLearner.Tasks, learner.Tasks) is { } mismatch) throw new SettingException(mismatch);
                compared[other] = (otherLearner, otherDescribed);
            }
            if (!p.GetValue(json)) AnsiConsole.MarkupLine($"Evaluating [blue]{Markup.Escape(file)}[/] (iteration {described.Iteration})");
            var result = EpisodeEvaluation.Evaluate(learner, runDir, options, out var tasks, out bool deterministic, out var evaluated);
            var agents = new List<IMetaAgent> { evaluated };
            var results = new List<MetaTestResult> { result };
            foreach (var other in others)
            {
                if (AlgorithmOf(other) == "maml")
                {
                    // A MAML run's policy with its weights fixed (no gradient steps): with inner-steps=0, the non-adaptive multi-task policy.
                    var fixedAgent = MamlStepEvaluation.FixedAgent(other, tasks, deterministic);
                    results.Add(MetaTest.Run(fixedAgent, tasks, options));
                    agents.Add(fixedAgent);
                    continue;
                }
                var (otherLearner, otherDescribed) = compared[other];
                var r = EpisodeEvaluation.Evaluate(otherLearner, other, options, out _, out _, out var otherAgent, labelWithRun: true);
                if (CapacityDifference(described, otherDescribed) is { } unlike)
                {
                    // A smaller or differently shaped baseline makes a lead look larger than the adaptation earns.
                    r.Details["unlike-capacity"] = unlike;
                    if (!p.GetValue(json))
                        AnsiConsole.MarkupLine($"[yellow]note:[/] {Markup.Escape(other)} differs from the evaluated run in {Markup.Escape(unlike)}; "
                            + $"'metarl train --from {Markup.Escape(runDir)} --counterpart multi-task' builds a baseline with the same network and heads.");
                }
                results.Add(r);
                agents.Add(otherAgent);
            }
            if (p.GetValue(baselines))
                foreach (var agent in TaskRegistry.Get(tasks.Name).Baselines(tasks, options.Seed))
                {
                    results.Add(MetaTest.Run(agent, tasks, options));
                    agents.Add(agent);
                }
            for (int i = 1; i < results.Count; i++) results[i].LeadOfEvaluatedAgent = MetaTestResult.Lead(result, results[i]);
            string title = $"{tasks.Name}: {result.Agent} on held-out tasks ({tasks.SettingsText()})";
            if (p.GetValue(json)) Console.WriteLine(results.Count == 1 ? result.ToJson() : MetaTestResult.ToJson(results));
            else
            {
                Report.PrintTable(results, title);
                Report.PrintDetails(results, tasks);
            }
            var stem = Report.EvalStem(options.Trials, options.Seed, ParseSettings(p.GetValue(set)), p.GetValue(baselines))
                + string.Concat(others.Select(o => "-vs-" + Report.FileLabel(o)));
            var output = Report.OutputPath(runDir, stem, p.GetValue(outDir));
            EvaluationReport.WriteAll(Path.GetDirectoryName(Path.GetFullPath(output))!, Path.GetFileName(output), results, title, tasks.EpisodeMetrics);
            if (tasks.TraceChannels.Count > 0) Report.WriteTrace(output + "-trace.png", tasks, options, results, agents);
            if (!p.GetValue(json)) AnsiConsole.MarkupLine($"Written: [blue]{Markup.Escape(output)}[/].csv/.json/.png");
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// Null when run <paramref name="other"/> plays the same tasks as this run; otherwise why it cannot be compared and,
    /// where only task settings differ, the <c>--set</c> that puts both on the same tasks (a per-style oracle against
    /// the all-style run: <c>--set style=kite</c>).
    /// </summary>
    private static string? CompareMismatch(string other, TaskDistribution theirs, TaskDistribution ours)
    {
        // Settings that shape training alone (an arena oracle's credited kit draws) do not keep two runs apart.
        if (theirs.Name == ours.Name && theirs.HeldOutSettingsText() == ours.HeldOutSettingsText()) return null;
        string text = $"--compare '{other}' plays {theirs.Name} ({theirs.HeldOutSettingsText()}); this run plays {ours.Name} ({ours.HeldOutSettingsText()}).";
        if (theirs.Name != ours.Name) return text;
        var mine = ours.HeldOutSettings.ToDictionary(s => s.Key, s => s.Default);
        var differing = theirs.HeldOutSettings.Where(s => !mine.TryGetValue(s.Key, out var v) || v != s.Default).ToArray();
        return differing.Length == 0 ? text
            : text + $" To play both on the same tasks, evaluate with {string.Join(" ", differing.Select(s => $"--set {s.Key}={s.Default}"))}.";
    }

    private static Command RenderCommand()
    {
        var dir = new Argument<string>("run") { Description = "An arena run directory written by 'metarl train', or a checkpoint file (.mrla)." };
        var task = new Option<string?>("--task") { Description = "The family to draw: arena (the run's own; given to check it)." };
        var set = SetOption();
        var seed = new Option<ulong>("--seed") { Description = "Seed of the held-out tasks, as in eval.", DefaultValueFactory = _ => 1 };
        var trial = new Option<int>("--trial") { Description = "Which held-out trial to play (1: eval's first).", DefaultValueFactory = _ => 1 };
        var round = new Option<int?>("--round") { Description = "Which round of the trial to draw (default: the last)." };
        var frames = new Option<int>("--frames") { Description = "Frames in the PNG strip, evenly spaced over the round (2 to 32); a GIF shows every step.", DefaultValueFactory = _ => 8 };
        var outFile = new Option<string?>("--out") { Description = "The file to write: a .png strip of frames or a .gif animation of the round in real time (default: RUN/render-trialN-roundK.png)." };
        var cmd = new Command("render", "Draw a round of arena as the trained NPC played it: a strip of frames (or an animated GIF) with both fighters, their trails and their attacks.")
            { dir, task, set, seed, trial, round, frames, outFile };
        cmd.SetAction(p =>
        {
            if (p.GetResult(frames) is { Implicit: false } && p.GetValue(outFile) is { } o && o.EndsWith(".gif", StringComparison.OrdinalIgnoreCase))
                throw new SettingException("--frames sets the PNG strip's frames; a GIF shows every step of the round.");
            var path = Render.Arena(p.GetValue(dir)!, p.GetValue(task), ParseSettings(p.GetValue(set)), p.GetValue(seed), p.GetValue(trial), p.GetValue(round),
                p.GetValue(frames), p.GetValue(outFile));
            AnsiConsole.MarkupLine($"Written: [blue]{Markup.Escape(path)}[/]");
            return 0;
        });
        return cmd;
    }

    private static Command ExportCommand()
    {
        var dir = new Argument<string>("run") { Description = "A run directory written by 'metarl train' (any algorithm), or a checkpoint file (.mrla)." };
        var format = new Option<string>("--format") { Description = "The model format.", DefaultValueFactory = _ => "onnx" };
        format.AcceptOnlyFromAmong("onnx");
        var convention = new Option<string>("--convention")
        {
            Description = "Input and output names for the runtime that loads the model: godot (Godot RL Agents: obs, state_ins → output, state_outs) or unity (ML-Agents/Sentis: obs_0, recurrent_in → version_number, memory_size, *_actions, recurrent_out).",
            DefaultValueFactory = _ => "godot",
        };
        convention.AcceptOnlyFromAmong("godot", "unity");
        var outFile = new Option<string?>("--out") { Description = "The .onnx file to write (default: RUN/agent-CONVENTION.onnx)." };
        var set = SetOption();
        var adaptTrial = new Option<int?>("--adapt-trial") { Description = "MAML only: export the policy adapted on this held-out trial (1: eval's first) instead of the meta-trained θ₀." };
        var adaptSteps = new Option<int>("--adapt-steps") { Description = "MAML with --adapt-trial: gradient steps (rounds of the run's trajectories) to adapt by.", DefaultValueFactory = _ => 1 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the held-out tasks for --adapt-trial, as in eval.", DefaultValueFactory = _ => 1 };
        adaptTrial.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--adapt-trial must be at least 1."); });
        adaptSteps.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 100) r.AddError("--adapt-steps must be 1 to 100."); });
        var cmd = new Command("export", "Write a trained agent's policy as an ONNX model for a game engine or a service (the recurrent state is an input and an output).")
            { dir, format, convention, outFile, set, adaptTrial, adaptSteps, seed };
        cmd.SetAction(p =>
        {
            if (p.GetResult(adaptSteps) is { Implicit: false } && p.GetValue(adaptTrial) is null) throw new SettingException("--adapt-steps needs --adapt-trial.");
            Deployment.Export(p.GetValue(dir)!, p.GetValue(convention)!, p.GetValue(outFile), ParseSettings(p.GetValue(set)), p.GetValue(adaptTrial), p.GetValue(adaptSteps),
                p.GetValue(seed));
            return 0;
        });
        return cmd;
    }

    private static Command ActCommand()
    {
        var dir = new Argument<string>("run") { Description = "A run directory written by 'metarl train', or a checkpoint file (.mrla)." };
        var inputs = new Option<string>("--inputs")
        {
            Description = "A CSV with a header: the observation's components in order, then reward and done (the outcome of the action taken on that row), optionally new_trial (1 starts a new task).",
            Required = true,
        };
        var set = SetOption();
        var seed = new Option<ulong>("--seed") { Description = "Seed of the agent's own random choices (a sampling policy).", DefaultValueFactory = _ => 1 };
        var outFile = new Option<string?>("--out") { Description = "Write the CSV here instead of to the standard output." };
        var cmd = new Command("act", "Print a trained agent's outputs and actions for a recorded sequence of observations, rewards and episode ends (what its ONNX export must give).")
            { dir, inputs, set, seed, outFile };
        cmd.SetAction(p => Deployment.Act(p.GetValue(dir)!, p.GetValue(inputs)!, ParseSettings(p.GetValue(set)), p.GetValue(seed), p.GetValue(outFile)));
        return cmd;
    }

    private static Command GlucoseCommand()
    {
        var patient = new Option<string>("--patient") { Description = "A virtual patient of the UVA/Padova simulator: adolescent#001…010, adult#001…010 or child#001…010.", Required = true };
        var inputs = new Option<string>("--inputs") { Description = "A CSV log with columns minute,cho_announced_g,insulin_u_per_min (the carbohydrate announced and the insulin rate over each minute).", Required = true };
        var outFile = new Option<string?>("--out") { Description = "Write minute,bg_mg_dl here instead of to the standard output." };
        var replay = new Command("replay", "Replay a logged day on a virtual patient: the glucose (mg/dL) at the start of each minute.") { patient, inputs, outFile };
        replay.SetAction(p =>
        {
            var who = MetaRL.Tasks.Glucose.VirtualPatient.Get(p.GetValue(patient)!);
            var path = p.GetValue(inputs)!;
            if (!File.Exists(path)) throw new SettingException($"--inputs: '{path}' does not exist.");
            IReadOnlyList<MetaRL.Tasks.Glucose.GlucoseReplay.Minute> log;
            using (var reader = new StreamReader(path)) log = MetaRL.Tasks.Glucose.GlucoseReplay.Read(reader, path);
            var glucose = MetaRL.Tasks.Glucose.GlucoseReplay.Run(who, log);
            if (p.GetValue(outFile) is { } target)
            {
                // Written beside the target and moved into place: a failed replay never leaves half a file.
                var tmp = target + ".tmp";
                using (var w = new StreamWriter(tmp)) MetaRL.Tasks.Glucose.GlucoseReplay.Write(w, log, glucose);
                File.Move(tmp, target, overwrite: true);
            }
            else MetaRL.Tasks.Glucose.GlucoseReplay.Write(Console.Out, log, glucose);
            return 0;
        });
        return new Command("glucose", "The UVA/Padova type-1 diabetes simulator's tools.") { replay };
    }

    /// <summary>The capacity settings (layer sizes, heads, cell) in which two runs of one algorithm differ, e.g. "hidden 64 vs 128"; null when they agree.</summary>
    private static string? CapacityDifference(LearnerCheckpoint.Description a, LearnerCheckpoint.Description b)
    {
        if (a.Algorithm != b.Algorithm) return null;
        var differ = MetaLearners.Get(a.Algorithm).CapacityKeys
            .Where(k => a.Settings.TryGetValue(k, out var x) && b.Settings.TryGetValue(k, out var y) && x != y)
            .Select(k => $"{k} {b.Settings[k]} vs {a.Settings[k]}").ToArray();
        return differ.Length == 0 ? null : string.Join(", ", differ);
    }

    /// <summary>The algorithm that wrote a run's (or a checkpoint file's) checkpoint.</summary>
    private static string AlgorithmOf(string runOrCheckpoint)
    {
        var file = RunDirectory.CheckpointOf(runOrCheckpoint, preferBest: false);
        return LearnerCheckpoint.Read(TensorArchive.Load(file), file).Algorithm;
    }

    private static Command DemoCommand()
    {
        var defaults = new SinusoidDemoOptions();
        var kind = new Option<string>("--kind") { Description = "rl2: RL² on a 5-armed bandit; sinusoid: MAML few-shot regression.", DefaultValueFactory = _ => "rl2" };
        kind.AcceptOnlyFromAmong("rl2", "sinusoid");
        var iterations = new Option<int?>("--iterations") { Description = $"Meta-training iterations (rl2: {BanditDemo.DefaultIterations}, sinusoid: 10000)." };
        var seed = new Option<ulong>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1 };
        var outDir = new Option<string?>("--out") { Description = "Folder for the run, CSV files and plots (new or empty)." };
        var tasks = new Option<int>("--test-tasks") { Description = "Held-out tasks in the adaptation table.", DefaultValueFactory = _ => 2000 };
        var cmd = new Command("demo", "A short meta-training demo: train, adapt on held-out tasks, print the adaptation table and plot it.")
        {
            kind, iterations, seed, outDir, tasks,
        };
        iterations.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is <= 0) r.AddError("--iterations must be positive."); });
        tasks.Validators.Add(r => { if (r.GetValueOrDefault<int>() <= 0) r.AddError("--test-tasks must be positive."); });
        cmd.SetAction(p =>
        {
            if (p.GetValue(kind) == "sinusoid")
                return SinusoidDemo.Run(defaults with
                {
                    Iterations = p.GetValue(iterations) ?? defaults.Iterations,
                    Seed = p.GetValue(seed),
                    OutDir = p.GetValue(outDir) ?? defaults.OutDir,
                    TestTasks = p.GetValue(tasks),
                });
            return BanditDemo.Run(p.GetValue(iterations), p.GetValue(seed), p.GetValue(outDir), p.GetValue(tasks));
        });
        return cmd;
    }
}
