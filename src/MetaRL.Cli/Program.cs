using System.CommandLine;
using MetaRL.Cli.Demos;

namespace MetaRL.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        // Piped output (CI logs, files) has no terminal width; do not wrap tables at 80 columns.
        if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 200;
        var root = new RootCommand("MetaRL: meta-reinforcement learning on the CPU.");
        root.Subcommands.Add(DemoCommand());
        return root.Parse(args).Invoke();
    }

    private static Command DemoCommand()
    {
        var defaults = new SinusoidDemoOptions();
        var iterations = new Option<int>("--iterations") { Description = "Meta-training iterations.", DefaultValueFactory = _ => defaults.Iterations };
        var seed = new Option<ulong>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => defaults.Seed };
        var outDir = new Option<string>("--out") { Description = "Folder for the CSV files and the plot.", DefaultValueFactory = _ => defaults.OutDir };
        var tasks = new Option<int>("--test-tasks") { Description = "Held-out tasks in the adaptation table.", DefaultValueFactory = _ => defaults.TestTasks };
        var cmd = new Command("demo", "Meta-train MAML on sinusoid regression and compare adaptation against fine-tuned baselines.")
        {
            iterations, seed, outDir, tasks,
        };
        iterations.Validators.Add(r => { if (r.GetValueOrDefault<int>() <= 0) r.AddError("--iterations must be positive."); });
        tasks.Validators.Add(r => { if (r.GetValueOrDefault<int>() <= 0) r.AddError("--test-tasks must be positive."); });
        cmd.SetAction(p => SinusoidDemo.Run(defaults with
        {
            Iterations = p.GetValue(iterations),
            Seed = p.GetValue(seed),
            OutDir = p.GetValue(outDir)!,
            TestTasks = p.GetValue(tasks),
        }));
        return cmd;
    }
}
