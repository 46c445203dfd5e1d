using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Tasks.Games;

namespace MetaRL.Tasks.Tests;

/// <summary>The rps-bots population, its split into training and held-out tasks, its match and its classical players.</summary>
public sealed class RpsBotsTests
{
    // A bot of a kind with no noise, its other parameters from the training ranges.
    private static RpsBot Bot(string kind, params double[] parameters)
    {
        var k = RpsBotKinds.Get(kind);
        var p = parameters.Length > 0 ? [0, .. parameters] : k.Draw(new Rng(1), false);
        p[0] = 0;
        var bot = k.Create(p);
        bot.Reset();
        return bot;
    }

    // The bot's moves against a fixed sequence of player moves.
    private static int[] Against(RpsBot bot, params int[] player)
    {
        var rng = new Rng(2);
        var moves = new int[player.Length];
        for (int t = 0; t < player.Length; t++)
        {
            moves[t] = bot.Play(rng);
            bot.Record(moves[t], player[t]);
        }
        return moves;
    }

    [Fact]
    public void The_population_has_25_kinds_or_more_with_5_or_more_never_trained_on()
    {
        Assert.True(RpsBotKinds.All.Count >= 25, $"{RpsBotKinds.All.Count} kinds");
        Assert.True(RpsBotsTasks.HeldOutKinds.Count >= 5);
        Assert.Equal(RpsBotKinds.All.Count, RpsBotKinds.All.Select(k => k.Name).Distinct().Count());
        var tasks = new RpsBotsTasks();
        var rng = new Rng(3);
        var trained = Enumerable.Range(0, 3000).Select(_ => (RpsOpponent)tasks.SampleTask(rng, TaskSplit.Train)).ToArray();
        Assert.DoesNotContain(trained, t => t.Kind.HeldOut || t.UnseenParameters);
        Assert.Equal(RpsBotsTasks.TrainingKinds.Count, trained.Select(t => t.Kind.Name).Distinct().Count());
        var held = Enumerable.Range(0, 2000).Select(_ => (RpsOpponent)tasks.SampleTask(rng, TaskSplit.Test)).ToArray();
        Assert.All(held, t => Assert.True(t.Kind.HeldOut != t.UnseenParameters));
        Assert.InRange(held.Count(t => t.Kind.HeldOut), 900, 1100);
        // Unseen parameters come from ranges training never draws: the noise at least.
        Assert.All(held.Where(t => t.UnseenParameters), t => Assert.InRange(t.Parameters[0], 0.10, 0.25));
        Assert.All(trained, t => Assert.InRange(t.Parameters[0], 0, 0.10));
        Assert.Throws<SettingException>(() => RpsBotsTasks.FromSettings(new Dictionary<string, string> { ["throws"] = "50", ["episode-throws"] = "20" }));
    }

    [Fact]
    public void Simple_kinds_play_as_their_descriptions_say()
    {
        Assert.Equal([1, 2, 0, 1], Against(Bot("cycle", 1), 0, 0, 0, 0));
        Assert.Equal([1, 0, 2, 1], Against(Bot("cycle-down", 1), 0, 0, 0, 0));
        Assert.Equal([0, 1], Against(Bot("copy"), 0, 1, 2)[1..]);
        Assert.Equal([1, 2], Against(Bot("beat-last"), 0, 1, 2)[1..]);
        Assert.Equal([2, 0], Against(Bot("beat-beat-last"), 0, 1, 2)[1..]);
        Assert.Equal([2, 2, 2, 2], Against(Bot("constant", 2), 0, 1, 2, 0));
        // Win-stay, lose-shift: rock beat scissors, so rock again; rock lost to paper, so on to paper.
        var wsls = Bot("win-stay-lose-shift", 0.0);
        var rng = new Rng(6);
        wsls.Record(0, 2);
        Assert.Equal(0, wsls.Play(rng));
        wsls.Record(0, 1);
        Assert.Equal(1, wsls.Play(rng));
        // The frequency counter beats the player's most frequent move.
        Assert.Equal(1, Against(Bot("frequency"), 0, 0, 1, 0, 2)[^1]);
        // A de Bruijn sequence of order 2 holds each of the nine pairs once per period.
        var bruijn = Against(Bot("de-bruijn", 2, 0), new int[18]);
        Assert.Equal(9, Enumerable.Range(0, 9).Select(i => (bruijn[i], bruijn[(i + 1) % 9])).Distinct().Count());
        Assert.Equal(bruijn[..9], bruijn[9..]);
    }

    [Fact]
    public void A_match_goes_on_across_episodes_and_a_new_trial_starts_a_new_one()
    {
        var tasks = new RpsBotsTasks(throws: 6, episodeThrows: 3);
        var env = tasks.CreateEnv();
        var cycle = RpsBotKinds.Get("cycle");
        env.SetTask(new RpsOpponent(cycle, [0, 0], false));
        var rng = new Rng(4);
        var obs = new float[8];
        var theirs = new List<int>();
        for (int episode = 0; episode < 2; episode++)
        {
            env.Reset(rng, obs);
            for (int t = 0; t < 3; t++)
            {
                env.Step([0], rng, obs);
                theirs.Add(obs[3..6].IndexOf(1f));
            }
        }
        Assert.Equal([0, 1, 2, 0, 1, 2], theirs);
        Assert.Equal(1f, obs[7]);
        var score = new double[1];
        env.WriteEpisodeMetrics(score);
        Assert.Equal(0, score[0]); // rock against rock, paper, scissors: a tie, a loss, a win
        env.SetTask(new RpsOpponent(cycle, [0, 0], false));
        env.Reset(rng, obs);
        Assert.Equal([0f, 0, 0, 0, 0, 0, 0, 0], obs);
    }

    [Fact]
    public void The_classical_players_exploit_what_they_model_and_random_play_scores_nothing()
    {
        var tasks = new RpsBotsTasks();
        var baselines = RpsBaselines.For(tasks, 1).ToDictionary(a => a.Name.Split(' ')[0]);
        double Score(string player, string opponent)
        {
            var kind = RpsBotKinds.Get(opponent);
            var rng = new Rng(9);
            var trials = Enumerable.Range(0, 40).Select(_ => (ITask)new RpsOpponent(kind, kind.Draw(rng, false), false)).ToArray();
            return MetaTest.Run(baselines[player], tasks, trials, new MetaTestOptions(Seed: 5)).MeanTotalReturn / 200;
        }
        Assert.True(Score("frequency", "constant") > 0.8);
        Assert.True(Score("Markov", "cycle") > 0.7);
        Assert.True(Score("predictor", "beat-last") > 0.5);
        Assert.InRange(Score("random", "frequency"), -0.1, 0.1);
        // The frequency counter is itself exploited by an opponent that second-guesses it.
        Assert.True(Score("frequency", "beat-own-frequent") < -0.5);
    }

    [Fact]
    public void The_oracle_wins_nine_throws_in_ten_against_noise_free_exploitable_opponents_and_best_responds_to_a_mix()
    {
        var tasks = new RpsBotsTasks();
        double Score(RpsOpponent opponent) => MetaTest.Run(RpsBaselines.Oracle, tasks, [opponent], new MetaTestOptions(Seed: 3)).MeanTotalReturn;
        foreach (var kind in RpsBotKinds.All.Where(k => k.Exploitable))
        {
            var p = kind.Draw(new Rng(4), false);
            p[0] = 0;
            // Only the throws the opponent makes with nothing to go on yet (no precedent in the match) are random.
            Assert.True(Score(new RpsOpponent(kind, p, false)) >= 180, $"{kind.Name}: {Score(new RpsOpponent(kind, p, false))}");
        }
        // A mix of 60 % rock, 30 % paper: paper scores 0.6 − 0.1 = 0.5 a throw in expectation.
        Assert.InRange(Score(new RpsOpponent(RpsBotKinds.Get("biased"), [0, 0.6, 0.3], false)) / 200, 0.35, 0.65);
    }

    [Fact]
    public void Exploitable_opponents_are_the_kinds_without_a_random_rule_and_the_setting_keeps_only_them()
    {
        Assert.Equal(["biased", "random-walk"], RpsBotKinds.All.Where(k => !k.Exploitable).Select(k => k.Name));
        var tasks = RpsBotsTasks.FromSettings(new Dictionary<string, string> { ["opponents"] = "exploitable" });
        var rng = new Rng(6);
        foreach (var split in new[] { TaskSplit.Train, TaskSplit.Test })
            for (int i = 0; i < 300; i++) Assert.True(((RpsOpponent)tasks.SampleTask(rng, split)).Kind.Exploitable);
        Assert.Throws<SettingException>(() => RpsBotsTasks.FromSettings(new Dictionary<string, string> { ["opponents"] = "some" }));
    }
}
