// Serves a trained agent over HTTP: one session per client, one request per decision (ASP.NET Core minimal APIs).
// Serve:     dotnet run --project examples/AgentService -c Release -- RUN [--urls http://127.0.0.1:5080]
// Load test: dotnet run --project examples/AgentService -c Release -- RUN --load-test [--clients 8] [--requests 20000] [--seconds 30]
//
//   POST /sessions {"seed": 1}                                  → {"id": "…"}
//   POST /sessions/{id}/act {"observation": [..], "reward": r, "done": false}
//                                                               → {"action": [..], "output": [..], "previousEpisodeEnded": false}
//   POST /sessions/{id}/reset   (a new task: the agent forgets the last one)      DELETE /sessions/{id}      GET /agent
using AgentService;

if (args.Length == 0 || args[0].StartsWith('-'))
{
    Console.Error.WriteLine("usage: AgentService RUN [--urls URL] | RUN --load-test [--clients N] [--requests N] [--seconds S]");
    return 2;
}
string Option(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
var learner = AgentServer.Load(args[0]);
if (!args.Contains("--load-test"))
{
    var app = AgentServer.Build(learner, Option("--urls", "http://127.0.0.1:5080"));
    Console.WriteLine($"Serving {learner.Algorithm} on {learner.Tasks.Name} ({learner.Agent().Name}); Ctrl+C stops.");
    await app.RunAsync();
    return 0;
}
await using (var server = AgentServer.Build(learner, "http://127.0.0.1:0"))
{
    await server.StartAsync();
    var result = await LoadTest.Run(learner, new Uri(server.Urls.First()), int.Parse(Option("--clients", "8")), long.Parse(Option("--requests", "20000")),
        double.Parse(Option("--seconds", "30"), System.Globalization.CultureInfo.InvariantCulture));
    Console.WriteLine(result);
    await server.StopAsync();
    return result.Mismatches == 0 ? 0 : 1;
}
