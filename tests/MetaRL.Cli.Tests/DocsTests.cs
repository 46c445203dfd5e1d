using System.Diagnostics;

namespace MetaRL.Cli.Tests;

/// <summary>The documentation that is generated from the code, and the front page's promises, kept true.</summary>
public sealed class DocsTests
{
    private static string Repository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MetaRL.slnx"))) return dir.FullName;
        throw new InvalidOperationException("The tests run outside the repository: no MetaRL.slnx above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// docs/cli.md is 'metarl reference' as the code stands: a new command, option or setting (or a changed default or
    /// description) fails this until the file is generated again. Needs MuJoCo, whose families' settings it lists.
    /// </summary>
    [CliReferenceFact]
    public void The_cli_reference_is_what_the_code_generates()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "metarl.dll"));
        psi.ArgumentList.Add("reference");
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        var file = Path.Combine(Repository(), "docs", "cli.md");
        Assert.True(File.ReadAllText(file) == output.Result,
            "docs/cli.md differs from what the code generates; run: dotnet run -c Release --project src/MetaRL.Cli -- reference > docs/cli.md");
    }

    [Fact]
    public void The_readme_is_a_front_page_whose_links_resolve()
    {
        var root = Repository();
        var readme = File.ReadAllLines(Path.Combine(root, "README.md"));
        Assert.True(readme.Length <= 150, $"README.md has {readme.Length} lines; the front page keeps to about 150 (details go to docs/).");
        var quickstart = readme.SkipWhile(l => !l.StartsWith("<!-- quickstart", StringComparison.Ordinal)).Skip(2).TakeWhile(l => l != "```").ToArray();
        Assert.InRange(quickstart.Length, 10, 25);
        foreach (var doc in Directory.GetFiles(Path.Combine(root, "docs"), "*.md", SearchOption.AllDirectories).Append(Path.Combine(root, "README.md")))
        {
            var text = File.ReadAllText(doc);
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text, @"\]\(([^)#:]+)(#[^)]*)?\)"))
            {
                var target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(doc)!, m.Groups[1].Value));
                Assert.True(File.Exists(target) || Directory.Exists(target), $"{Path.GetRelativePath(root, doc)} links to {m.Groups[1].Value}, which does not exist");
            }
        }
    }
}

/// <summary>Skips the reference check where MuJoCo is missing: the reference lists the MuJoCo families' settings as CI's machine has them.</summary>
public sealed class CliReferenceFactAttribute : FactAttribute
{
    public CliReferenceFactAttribute()
    {
        if (!MetaRL.MuJoCo.MuJoCo.IsAvailable) Skip = "docs/cli.md lists the MuJoCo families' settings, and MuJoCo is not available here: " + MetaRL.MuJoCo.MuJoCo.UnavailableReason;
    }
}
