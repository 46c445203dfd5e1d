using System.Collections.Concurrent;
using MetaRL.Algorithms;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;

namespace AgentService;

/// <summary>A request for the next action: the observation, and the outcome of the previous action (none on a session's first request or after a reset).</summary>
public sealed record ActRequest(float[] Observation, float? Reward = null, bool Done = false, bool Terminated = false);

/// <summary>The action to take (for a discrete space, one number holding the index) and the policy output behind it.</summary>
public sealed record ActResponse(float[] Action, float[] Output, bool PreviousEpisodeEnded);

public sealed record SessionRequest(ulong Seed = 1);

public sealed record SessionResponse(string Id);

public sealed record AgentDescription(string Algorithm, string Task, string Agent, int ObservationSize, int ActionSize, string ActionSpace, int Horizon, int EpisodesPerTrial);

/// <summary>
/// Serves one loaded agent over HTTP with ASP.NET Core minimal APIs: each client opens a session (its own memory of the
/// task it is playing) and asks for one action per request, reporting the previous action's reward and whether the
/// episode ended in the same request. Sessions share the agent (agents are safe to share across threads) and each
/// is used by one request at a time.
/// </summary>
public static class AgentServer
{
    /// <summary>A run directory's last checkpoint, or a checkpoint file, loaded for serving.</summary>
    public static IMetaLearner Load(string runOrCheckpoint) => MetaLearners.Load(runOrCheckpoint);

    /// <summary>The web application serving <paramref name="learner"/>'s agent on <paramref name="urls"/> (port 0: any free port).</summary>
    public static WebApplication Build(IMetaLearner learner, params string[] urls)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(urls);
        var app = builder.Build();
        var agent = learner.Agent();
        var tasks = learner.Tasks;
        var sessions = new ConcurrentDictionary<string, Session>();

        app.MapGet("/agent", () => new AgentDescription(learner.Algorithm, tasks.Name, agent.Name, tasks.ObservationSpace.Size, tasks.ActionSpace.Size,
            tasks.ActionSpace.ToString() ?? "", tasks.Horizon, tasks.EpisodesPerTrial));

        app.MapPost("/sessions", (SessionRequest? request) =>
        {
            var id = Guid.NewGuid().ToString("N");
            sessions[id] = new Session(new AgentPlayer(agent, tasks, request?.Seed ?? 1), tasks.ObservationSpace.Size);
            return Results.Ok(new SessionResponse(id));
        });

        app.MapPost("/sessions/{id}/reset", (string id) =>
        {
            if (!sessions.TryGetValue(id, out var s)) return NotFound(id);
            lock (s) s.Reset();
            return Results.NoContent();
        });

        app.MapPost("/sessions/{id}/act", (string id, ActRequest request) =>
        {
            if (!sessions.TryGetValue(id, out var s)) return NotFound(id);
            if (request.Observation is null) return Results.BadRequest(new { error = "The request needs an observation." });
            try
            {
                lock (s) return Results.Ok(s.Act(request));
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                return Results.BadRequest(new { error = e.Message });
            }
        });

        app.MapDelete("/sessions/{id}", (string id) => sessions.TryRemove(id, out _) ? Results.NoContent() : NotFound(id));
        return app;
    }

    private static IResult NotFound(string id) => Results.NotFound(new { error = $"No session '{id}'; open one with POST /sessions." });

    /// <summary>One client's player and whether its last action still awaits its outcome.</summary>
    private sealed class Session(AgentPlayer player, int observationSize)
    {
        private bool _pending, _started;

        public void Reset()
        {
            player.Reset();
            (_started, _pending) = (true, false);
        }

        public ActResponse Act(ActRequest request)
        {
            // Checked before the previous outcome is recorded, so a bad request changes nothing and can be sent again.
            if (request.Observation.Length != observationSize)
                throw new ArgumentException($"The observation has {request.Observation.Length} numbers; this agent's have {observationSize}.");
            if (_pending && request.Reward is { } r && !float.IsFinite(r)) throw new ArgumentException($"The reward must be a finite number; got {r}.");
            if (!_started) Reset();
            bool ended = false;
            if (_pending)
            {
                if (request.Reward is not { } reward)
                    throw new ArgumentException("The previous action's reward is missing: send reward (and done) with every request after the first of a trial.");
                ended = player.Observe(reward, request.Terminated, request.Done && !request.Terminated);
            }
            var action = player.Act(request.Observation).ToArray();
            _pending = true;
            return new ActResponse(action, player.PolicyOutput.ToArray(), ended);
        }
    }
}
