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
    public void With_loadouts_the_first_decision_of_a_round_picks_the_loadout_and_nothing_later_changes_it()
    {
        var tasks = ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true" });
        Assert.Equal(ArenaEnv.LoadoutObservationSize, tasks.ObservationSpace.Size);
        Assert.Equal(ArenaEnv.ObservationSize, new ArenaTasks().ObservationSpace.Size);
        var env = (ArenaEnv)tasks.CreateEnv();
        var rng = new Rng(6);
        var obs = new float[ArenaEnv.LoadoutObservationSize];
        env.SetTask(Player("kite"));
        foreach (var (attackPart, loadout) in new[] { (0, ArenaLoadout.Standard), (1, ArenaLoadout.Shield), (2, ArenaLoadout.Rifle) })
        {
            env.Reset(rng, obs);
            Assert.Equal([0f, 0f], obs[16..]);
            var start = env.Round.Npc.Position;
            env.Step([1 * 3 + attackPart], rng, obs); // toward the player, with the attack part picking the loadout
            Assert.Equal(loadout, env.Round.Loadout);
            Assert.Equal(ArenaAttack.None, env.Round.NpcAttack); // the first decision picks, it does not attack
            Assert.Equal([loadout == ArenaLoadout.Shield ? 1f : 0f, loadout == ArenaLoadout.Rifle ? 1f : 0f], obs[16..]);
            Assert.Equal(env.Round.Npc.Speed * ArenaRules.Dt, (env.Round.Npc.Position - start).Length, 9); // at the loadout's speed
            env.Step([1 * 3 + 2], rng, obs); // a later shot is a shot (when the loadout has a gun), not a new loadout
            Assert.Equal(loadout, env.Round.Loadout);
            Assert.Equal(loadout == ArenaLoadout.Shield ? ArenaAttack.None : ArenaAttack.Shot, env.Round.NpcAttack);
            var metrics = new double[tasks.EpisodeMetrics.Count];
            env.WriteEpisodeMetrics(metrics);
            Assert.Equal([loadout == ArenaLoadout.Shield ? 1.0 : 0, loadout == ArenaLoadout.Rifle ? 1.0 : 0], metrics[2..]);
        }
        Assert.Equal(["winRate", "damageRatio", "shield", "rifle"], tasks.EpisodeMetrics.Select(m => m.Key));
        Assert.Equal(["winRate", "damageRatio"], new ArenaTasks().EpisodeMetrics.Select(m => m.Key));
        Assert.Throws<InvalidOperationException>(() => env.Round.Advance(new ArenaMove(default, ArenaAttack.None, ArenaLoadout.Rifle), default, rng));
        // Without loadouts the first decision attacks as any other and the NPC keeps the standard kit.
        var plain = new ArenaEnv(200);
        var plainObs = new float[ArenaEnv.ObservationSize];
        plain.SetTask(Player("rush"));
        plain.Reset(rng, plainObs);
        Assert.Null(ArenaEnv.NpcMove(plain.Round, 2).Loadout);
        Assert.Equal(ArenaAttack.Shot, ArenaEnv.NpcMove(plain.Round, 2).Attack);
        plain.Step([2], rng, plainObs);
        Assert.Equal(ArenaLoadout.Standard, plain.Round.Loadout);
        Assert.Throws<SettingException>(() => ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "yes" }));
    }

    [Fact]
    public void A_shield_blocks_half_of_a_shot_and_has_no_gun_and_a_rifle_has_no_strike()
    {
        static Fighter At(Vec p, ArenaLoadout loadout)
        {
            var f = Fighter.Standard(p);
            f.Equip(loadout);
            return f;
        }
        var rng = new Rng(7);
        var shieldDamage = new HashSet<double>();
        var standardDamage = new HashSet<double>();
        for (int i = 0; i < 200; i++)
        {
            var shooter = At(new Vec(0, -7), ArenaLoadout.Standard);
            shieldDamage.Add(ArenaRules.Attack(ref shooter, At(new Vec(0, -5), ArenaLoadout.Shield), ArenaAttack.Shot, rng));
            shooter.ShotCooldown = 0;
            standardDamage.Add(ArenaRules.Attack(ref shooter, At(new Vec(0, -5), ArenaLoadout.Standard), ArenaAttack.Shot, rng));
        }
        Assert.Equal([0, ArenaRules.ShotDamage / 2], shieldDamage.Order());
        Assert.Equal([0, ArenaRules.ShotDamage], standardDamage.Order());
        var shield = At(new Vec(0, -7), ArenaLoadout.Shield);
        var rifle = At(new Vec(0, -7), ArenaLoadout.Rifle);
        var target = At(new Vec(0, -6), ArenaLoadout.Standard);
        Assert.Equal(25, ArenaRules.Attack(ref shield, target, ArenaAttack.Melee, rng));
        for (int i = 0; i < 50; i++) Assert.Equal(0, ArenaRules.Attack(ref shield, target, ArenaAttack.Shot, rng));
        Assert.Equal(0, shield.ShotCooldown); // a gun it does not have is never fired
        Assert.Equal(0, ArenaRules.Attack(ref rifle, target, ArenaAttack.Melee, rng));
        Assert.Equal(0, rifle.MeleeCooldown);
        Assert.Equal(14, Enumerable.Range(0, 50).Select(_ => { rifle.ShotCooldown = 0; return ArenaRules.Attack(ref rifle, target, ArenaAttack.Shot, rng); }).Max());
        // A player guarded against strikes takes 30 % of one and all of a shot; guarded against shots, the reverse.
        var parrying = At(new Vec(0, -6), ArenaLoadout.Standard);
        parrying.Guard(ArenaGuard.Strikes);
        var plated = At(new Vec(0, -6), ArenaLoadout.Standard);
        plated.Guard(ArenaGuard.Shots);
        shield.MeleeCooldown = 0;
        Assert.Equal(25 * 0.3, ArenaRules.Attack(ref shield, parrying, ArenaAttack.Melee, rng), 9);
        shield.MeleeCooldown = 0;
        Assert.Equal(25, ArenaRules.Attack(ref shield, plated, ArenaAttack.Melee, rng), 9);
        Assert.Equal(14 * 0.3, Enumerable.Range(0, 50).Select(_ => { rifle.ShotCooldown = 0; return ArenaRules.Attack(ref rifle, plated, ArenaAttack.Shot, rng); }).Max(), 9);
        Assert.Equal(14, Enumerable.Range(0, 50).Select(_ => { rifle.ShotCooldown = 0; return ArenaRules.Attack(ref rifle, parrying, ArenaAttack.Shot, rng); }).Max(), 9);
    }

    [Fact]
    public void The_loadout_game_guards_half_its_players_against_shots_and_half_against_strikes_and_the_plain_game_none()
    {
        var rng = new Rng(8);
        var loadout = ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true" });
        var guards = Enumerable.Range(0, 400).Select(_ => ((ArenaPlayer)loadout.SampleTask(rng, TaskSplit.Test)).Guard).ToArray();
        Assert.InRange(guards.Count(g => g == ArenaGuard.Shots), 160, 240);
        Assert.Equal(400, guards.Count(g => g is ArenaGuard.Shots or ArenaGuard.Strikes));
        Assert.All(Enumerable.Range(0, 50), _ => Assert.Equal(ArenaGuard.None, ((ArenaPlayer)new ArenaTasks().SampleTask(rng, TaskSplit.Train)).Guard));
        // The env puts the task's guard on the player every round.
        var env = (ArenaEnv)loadout.CreateEnv();
        var obs = new float[loadout.ObservationSpace.Size];
        env.SetTask(Player("rush") with { Guard = ArenaGuard.Strikes });
        for (int r = 0; r < 2; r++)
        {
            env.Reset(rng, obs);
            Assert.Equal((0, 0.7), (env.Round.Player.ShotBlocked, env.Round.Player.StrikeBlocked));
            Assert.Equal(0, env.Round.Npc.StrikeBlocked);
        }
    }

    [Fact]
    public void Training_rounds_of_the_loadout_game_sometimes_get_a_random_loadout_and_held_out_rounds_never()
    {
        var tasks = ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true", ["loadout-exploration"] = "0.6" });
        var rng = new Rng(9);
        var training = (ArenaPlayer)tasks.SampleTask(rng, TaskSplit.Train);
        Assert.Equal(0.6, training.LoadoutExploration);
        Assert.Equal(0, ((ArenaPlayer)tasks.SampleTask(rng, TaskSplit.Test)).LoadoutExploration);
        Assert.Equal(0, ((ArenaPlayer)new ArenaTasks().SampleTask(rng, TaskSplit.Train)).LoadoutExploration); // the plain game has no loadouts
        Assert.Equal(ArenaTasks.DefaultLoadoutExploration, ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true" }).LoadoutExploration);

        // Always picking the shield: a training player overrides the pick in about 0.6 × 2/3 of its rounds, evenly over
        // the other kits; a held-out one never does, and neither does a plain-game env given an exploring task.
        int Shields(ArenaEnv env, ArenaPlayer player, int rounds, int[] kits)
        {
            env.SetTask(player);
            var obs = new float[ArenaEnv.LoadoutObservationSize];
            int shields = 0;
            for (int r = 0; r < rounds; r++)
            {
                env.Reset(rng, obs);
                env.Step([1 * 3 + 1], rng, obs);
                kits[(int)env.Round.Loadout]++;
                Assert.Equal([env.Round.Loadout == ArenaLoadout.Shield ? 1f : 0f, env.Round.Loadout == ArenaLoadout.Rifle ? 1f : 0f], obs[16..]); // it sees what it got
                if (env.Round.Loadout == ArenaLoadout.Shield) shields++;
            }
            return shields;
        }
        var kits = new int[3];
        int kept = Shields((ArenaEnv)tasks.CreateEnv(), training, 3000, kits);
        Assert.InRange(kept, 3000 * 0.55, 3000 * 0.65);
        Assert.InRange(kits[0] - kits[2], -150, 150);
        Assert.Equal(1000, Shields((ArenaEnv)tasks.CreateEnv(), training with { LoadoutExploration = 0 }, 1000, new int[3]));
        var plain = new ArenaEnv(200);
        plain.SetTask(training);
        var plainObs = new float[ArenaEnv.ObservationSize];
        plain.Reset(rng, plainObs);
        plain.Step([1 * 3 + 1], rng, plainObs);
        Assert.Equal(ArenaLoadout.Standard, plain.Round.Loadout);

        foreach (var bad in new[] { "-0.1", "1.5", "often" })
            Assert.Throws<SettingException>(() => ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true", ["loadout-exploration"] = bad }));
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
