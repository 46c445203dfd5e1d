using System.Net;
using System.Net.Http.Json;
using AgentService;

namespace MetaRL.Algorithms.Tests;

/// <summary>The example HTTP service (examples/AgentService) on loopback: a bounded load test, and its answers to bad requests.</summary>
public sealed class AgentServiceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-service-" + Guid.NewGuid().ToString("N"));

    public AgentServiceTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("rl2", "navigation-2d", "hidden=8")]
    [InlineData("maml", "navigation-2d", "hidden=8,8")]
    public async Task A_bounded_load_test_gets_the_in_process_agents_actions_from_every_client(string algorithm, string task, string hidden)
    {
        var path = Path.Combine(_dir, algorithm + ".mrla");
        var settings = new Dictionary<string, string> { ["hidden"] = hidden.Split('=')[1], ["horizon"] = "20" };
        if (algorithm == "rl2") settings["deterministic"] = "false";
        MetaLearners.Create(algorithm, task, settings, seed: 2).Save(path);
        var learner = AgentServer.Load(path);
        await using var server = AgentServer.Build(learner, "http://127.0.0.1:0");
        await server.StartAsync();
        var result = await LoadTest.Run(learner, new Uri(server.Urls.First()), clients: 4, requests: 400, seconds: 120);
        Assert.Equal(400, result.Requests);
        Assert.Equal(0, result.Mismatches);
        Assert.InRange(result.P50Ms, 1e-6, result.P99Ms);
        Assert.True(result.RequestsPerSecond > 0);
        await server.StopAsync();
    }

    [Fact]
    public async Task Bad_requests_get_a_clear_error_and_leave_the_session_usable()
    {
        var path = Path.Combine(_dir, "rl2.mrla");
        MetaLearners.Create("rl2", "navigation-2d", new Dictionary<string, string> { ["hidden"] = "8" }, seed: 2).Save(path);
        await using var server = AgentServer.Build(AgentServer.Load(path), "http://127.0.0.1:0");
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls.First()) };
        var unknown = await http.PostAsJsonAsync("/sessions/nope/act", new ActRequest([0f, 0f]));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("No session 'nope'", await unknown.Content.ReadAsStringAsync());

        var id = (await (await http.PostAsJsonAsync("/sessions", new SessionRequest(4))).Content.ReadFromJsonAsync<SessionResponse>())!.Id;
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync($"/sessions/{id}/act", new ActRequest([0.1f, 0.2f]))).StatusCode);
        var noReward = await http.PostAsJsonAsync($"/sessions/{id}/act", new ActRequest([0.1f, 0.2f]));
        Assert.Equal(HttpStatusCode.BadRequest, noReward.StatusCode);
        Assert.Contains("reward is missing", await noReward.Content.ReadAsStringAsync());
        var wrongSize = await http.PostAsJsonAsync($"/sessions/{id}/act", new ActRequest([0.1f], Reward: 1));
        Assert.Equal(HttpStatusCode.BadRequest, wrongSize.StatusCode);
        Assert.Contains("has 1 numbers", await wrongSize.Content.ReadAsStringAsync());
        // Nothing was recorded by the refused requests: the same outcome can be sent again.
        var next = await http.PostAsJsonAsync($"/sessions/{id}/act", new ActRequest([0.1f, 0.2f], Reward: 1));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(2, (await next.Content.ReadFromJsonAsync<ActResponse>())!.Action.Length);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/sessions/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync($"/sessions/{id}")).StatusCode);
        await server.StopAsync();
    }
}
