using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Tasks.Games;

namespace MetaRL.Tasks.Tests;

/// <summary>The arena's rules, its round, its player styles, its split into training and held-out tasks and its hand-written NPC.</summary>
public sealed class ArenaTests
{
    private static ArenaPlayer Player(string style, bool unseen = false, ulong seed = 1)
    {
        var s = ArenaStyles.Get(style);
        return new ArenaPlayer(s, s.Draw(new Rng(seed), unseen), unseen);
    }

    [Fact]
    public void Pillars_block_sight_and_movement_and_walls_hold_the_fighters_in()
    {
        var (c, r) = ArenaRules.Pillars[0];
        Assert.False(ArenaRules.LineOfSight(c + new Vec(-3, 0), c + new Vec(3, 0)));
        Assert.True(ArenaRules.LineOfSight(c + new Vec(-3, r + 0.1), c + new Vec(3, r + 0.1)));
        var f = new Fighter { Position = c + new Vec(-2, 0) };
        for (int i = 0; i < 20; i++) ArenaRules.Move(ref f, new Vec(4, 0));
        Assert.True((f.Position - c).Length >= r + ArenaRules.FighterRadius - 1e-9);
        var g = new Fighter { Position = new Vec(7, 7) };
        for (int i = 0; i < 20; i++) ArenaRules.Move(ref g, new Vec(4, 4));
        Assert.Equal(ArenaRules.HalfSize - ArenaRules.FighterRadius, g.Position.X, 9);
        Assert.Equal(0, g.Velocity.X, 9); // against the wall it no longer moves
    }

    [Fact]
    public void Melee_reaches_only_its_range_and_a_spent_weapon_waits_its_cooldown()
    {
        var rng = new Rng(2);
        var a = new Fighter { Position = new Vec(-7, -7), MeleeDamage = ArenaRules.MeleeDamage };
        var near = new Fighter { Position = new Vec(-6, -7) };
        var far = new Fighter { Position = new Vec(-5, -7) };
        Assert.Equal(0, ArenaRules.Attack(ref a, far, ArenaAttack.Melee, rng));
        Assert.Equal(ArenaRules.MeleeCooldownSteps, a.MeleeCooldown);
        Assert.Equal(0, ArenaRules.Attack(ref a, near, ArenaAttack.Melee, rng)); // still cooling down
        for (int i = 0; i < ArenaRules.MeleeCooldownSteps; i++) ArenaRules.Cool(ref a);
        Assert.Equal(ArenaRules.MeleeDamage, ArenaRules.Attack(ref a, near, ArenaAttack.Melee, rng));
    }

    [Fact]
    public void Shots_hit_less_often_at_range_and_against_a_target_moving_across_the_line()
    {
        var shooter = new Fighter { Position = new Vec(0, -7) };
        var marksman = new Fighter { Position = new Vec(0, -7), Aim = 1 };
        var close = new Fighter { Position = new Vec(0, -5) };
        var distant = new Fighter { Position = new Vec(0, 1) };
        var crossing = new Fighter { Position = new Vec(0, -5), Velocity = new Vec(4, 0) };
        var running = new Fighter { Position = new Vec(0, -5), Velocity = new Vec(0, 4) };
        Assert.True(ArenaRules.HitChance(shooter, close) > ArenaRules.HitChance(shooter, distant));
        Assert.True(ArenaRules.HitChance(shooter, close) > ArenaRules.HitChance(shooter, crossing) + 0.5);
        Assert.Equal(ArenaRules.HitChance(shooter, close), ArenaRules.HitChance(shooter, running), 9); // straight away: no harder
        Assert.Equal(ArenaRules.HitChance(marksman, close), ArenaRules.HitChance(marksman, distant), 9); // perfect aim: range does not matter
    }

    [Fact]
    public void A_round_ends_when_a_fighter_falls_or_time_runs_out_and_its_reward_is_the_damage_balance_and_the_outcome()
    {
        var env = new ArenaEnv(200);
        var rng = new Rng(3);
        var obs = new float[ArenaEnv.ObservationSize];
        // Standing still against a rusher: the NPC is struck down and loses.
        env.SetTask(Player("rush"));
        env.Reset(rng, obs);
        double total = 0;
        StepResult step;
        do total += (step = env.Step(new float[] { 0 }, rng, obs)).Reward; while (!step.Done);
        Assert.True(step.Terminated);
        Assert.Equal(0, env.Round.Npc.Health);
        var metrics = new double[2];
        env.WriteEpisodeMetrics(metrics);
        Assert.Equal([0, 0], metrics);
        Assert.Equal(-1 - 1, total, 6); // all 100 health lost, and the round
        // Standing still against a camper: nobody is hurt, the round runs its time and is a draw.
        env.SetTask(Player("camp"));
        env.Reset(rng, obs);
        int steps = 0;
        do (step, steps) = (env.Step(new float[] { 0 }, rng, obs), steps + 1); while (!step.Done);
        env.WriteEpisodeMetrics(metrics);
        Assert.True(step.Truncated);
        Assert.Equal(200, steps);
        Assert.Equal(0.5, metrics[0]);
        Assert.Throws<InvalidOperationException>(() => env.Step(new float[] { 0 }, rng, obs));
        Assert.ThrowsAny<ArgumentException>(() => env.Step(new float[] { ArenaEnv.Actions }, rng, obs));
    }

    [Fact]
    public void Styles_play_as_their_descriptions_say()
    {
        // Against an NPC that stands still at the left wall.
        (double Distance, bool InSight) After(string style, int steps = 100)
        {
            var round = new ArenaRound(300);
            var rng = new Rng(4);
            var p = Player(style).Style.Create(Player(style).Parameters);
            p.Start(round, rng);
            for (int t = 0; t < steps && !round.Over; t++) round.Advance(new ArenaMove(default, ArenaAttack.None), p.Decide(round, rng), rng);
            return ((round.Player.Position - round.Npc.Position).Length, ArenaRules.LineOfSight(round.Npc.Position, round.Player.Position));
        }
        Assert.True(After("rush", 80).Distance <= ArenaRules.MeleeRange + 0.5);
        var range = Player("kite").Parameters[3];
        Assert.InRange(After("kite").Distance, range - 1.5, range + 1.5);
        Assert.False(After("camp").InSight);
        var radius = Player("flank").Parameters[3];
        Assert.InRange(After("flank").Distance, radius - 1, radius + 1);
    }

    [Fact]
    public void Training_never_meets_held_out_styles_or_parameters_and_the_style_setting_keeps_one()
    {
        var tasks = new ArenaTasks();
        var rng = new Rng(5);
        for (int i = 0; i < 400; i++)
        {
            var t = (ArenaPlayer)tasks.SampleTask(rng, TaskSplit.Train);
            Assert.False(t.Style.HeldOut || t.UnseenParameters);
            Assert.InRange(t.Parameters[0], 3.2, 4.0);
        }
        var test = Enumerable.Range(0, 400).Select(_ => (ArenaPlayer)tasks.SampleTask(rng, TaskSplit.Test)).ToArray();
        Assert.All(test, t => Assert.True(t.Style.HeldOut ^ t.UnseenParameters));
        Assert.All(test.Where(t => t.UnseenParameters), t => Assert.InRange(t.Parameters[0], 4.0, 4.4));
        Assert.Equal(["bait", "mixture"], test.Where(t => t.Style.HeldOut).Select(t => t.Style.Name).Distinct().Order());
        var rush = ArenaTasks.FromSettings(new Dictionary<string, string> { ["style"] = "rush" });
        Assert.All(Enumerable.Range(0, 50), _ => Assert.Equal("rush", ((ArenaPlayer)rush.SampleTask(rng, TaskSplit.Test)).Style.Name));
        Assert.Throws<SettingException>(() => ArenaTasks.FromSettings(new Dictionary<string, string> { ["style"] = "bait" }));
        Assert.Throws<SettingException>(() => ArenaTasks.FromSettings(new Dictionary<string, string> { ["round-seconds"] = "0.5" }));
    }

    [Fact]
    public void The_hand_written_npc_beats_a_random_one()
    {
        var tasks = new ArenaTasks();
        var options = new MetaTestOptions(200, 6);
        var handWritten = MetaTest.Run(ArenaStateMachine.Agent, tasks, options).Metrics!["winRate"];
        var random = MetaTest.Run(new Core.Baselines.RandomAgent(), tasks, options).Metrics!["winRate"];
        Assert.True(handWritten.Average() > random.Average() + 0.2, $"{handWritten.Average()} vs {random.Average()}");
    }
}
