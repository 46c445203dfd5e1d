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
    public void Training_never_meets_held_out_styles_or_parameters_between_or_beyond_and_the_style_setting_keeps_one()
    {
        var tasks = new ArenaTasks();
        var rng = new Rng(5);
        var train = Enumerable.Range(0, 400).Select(_ => (ArenaPlayer)tasks.SampleTask(rng, TaskSplit.Train)).ToArray();
        Assert.All(train, t => Assert.False(t.Style.HeldOut || t.UnseenParameters));
        var test = Enumerable.Range(0, 400).Select(_ => (ArenaPlayer)tasks.SampleTask(rng, TaskSplit.Test)).ToArray();
        Assert.All(test, t => Assert.True(t.Style.HeldOut ^ t.UnseenParameters));
        Assert.Equal(["bait", "mixture"], test.Where(t => t.Style.HeldOut).Select(t => t.Style.Name).Distinct().Order());
        // Between (the default): unseen speed, aggression and reaction all lie in a band the training players never take,
        // with training players on both sides of it.
        Assert.All(train, t => Assert.True(t.Parameters[0] is (>= 3.2 and <= 3.6) or (>= 4.0 and <= 4.4)));
        Assert.All(train, t => Assert.True(t.Parameters[1] is (>= 0.3 and <= 0.5) or (>= 0.7 and <= 0.9)));
        Assert.All(train, t => Assert.Contains(t.Parameters[2], new[] { 1.0, 2, 5, 6 }));
        Assert.Contains(train, t => t.Parameters[0] < 3.6);
        Assert.Contains(train, t => t.Parameters[0] > 4.0);
        var unseen = test.Where(t => t.UnseenParameters).ToArray();
        Assert.All(unseen, t => Assert.InRange(t.Parameters[0], 3.6, 4.0));
        Assert.All(unseen, t => Assert.InRange(t.Parameters[1], 0.5, 0.7));
        Assert.All(unseen, t => Assert.Contains(t.Parameters[2], new[] { 3.0, 4 }));
        // Beyond: unseen players are faster, fire less and react more slowly than any training player.
        var beyond = ArenaTasks.FromSettings(new Dictionary<string, string> { ["unseen-parameters"] = "beyond" });
        Assert.All(Enumerable.Range(0, 200), _ => Assert.InRange(((ArenaPlayer)beyond.SampleTask(rng, TaskSplit.Train)).Parameters[0], 3.2, 4.0));
        var beyondTest = Enumerable.Range(0, 400).Select(_ => (ArenaPlayer)beyond.SampleTask(rng, TaskSplit.Test)).Where(t => t.UnseenParameters).ToArray();
        Assert.NotEmpty(beyondTest);
        Assert.All(beyondTest, t => Assert.True(t.Parameters[0] >= 4.0 && t.Parameters[1] <= 0.5 && t.Parameters[2] >= 4));
        Assert.Throws<SettingException>(() => ArenaTasks.FromSettings(new Dictionary<string, string> { ["unseen-parameters"] = "outside" }));
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
        foreach (var (attackPart, loadout) in new[] { (0, ArenaLoadout.Standard), (1, ArenaLoadout.Kinetic), (2, ArenaLoadout.Energy) })
        {
            env.Reset(rng, obs);
            Assert.Equal([0f, 0f], obs[16..]);
            var start = env.Round.Npc.Position;
            env.Step([1 * 3 + attackPart], rng, obs); // toward the player, with the attack part picking the loadout
            Assert.Equal(loadout, env.Round.Loadout);
            Assert.Equal(ArenaAttack.None, env.Round.NpcAttack); // the first decision picks, it does not attack
            Assert.Equal([loadout == ArenaLoadout.Kinetic ? 1f : 0f, loadout == ArenaLoadout.Energy ? 1f : 0f], obs[16..]);
            Assert.Equal(loadout == ArenaLoadout.Standard ? 0.5 : loadout == ArenaLoadout.Kinetic ? 1 : 0, env.Round.Npc.KineticShare);
            Assert.Equal(env.Round.Npc.Speed * ArenaRules.Dt, (env.Round.Npc.Position - start).Length, 9); // at the loadout's speed
            env.Step([1 * 3 + 2], rng, obs); // a later shot is a shot, not a new loadout
            Assert.Equal(loadout, env.Round.Loadout);
            Assert.Equal(ArenaAttack.Shot, env.Round.NpcAttack);
            var metrics = new double[tasks.EpisodeMetrics.Count];
            env.WriteEpisodeMetrics(metrics);
            Assert.Equal([loadout == ArenaLoadout.Kinetic ? 1.0 : 0, loadout == ArenaLoadout.Energy ? 1.0 : 0], metrics[2..]);
        }
        Assert.Equal(["winRate", "damageRatio", "kinetic", "energy"], tasks.EpisodeMetrics.Select(m => m.Key));
        Assert.Equal(["winRate", "damageRatio"], new ArenaTasks().EpisodeMetrics.Select(m => m.Key));
        Assert.Throws<InvalidOperationException>(() => env.Round.Advance(new ArenaMove(default, ArenaAttack.None, ArenaLoadout.Energy), default, rng));
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
    public void A_kit_sets_the_kind_of_damage_and_armour_absorbs_most_of_its_own_kind()
    {
        static Fighter At(Vec p, ArenaLoadout loadout, ArenaGuard armour = ArenaGuard.None)
        {
            var f = Fighter.Standard(p);
            f.Equip(loadout);
            f.Guard(armour);
            return f;
        }
        var rng = new Rng(7);
        // The strike's and the shot's damage (the shot's best of 50 tries: some miss) of each kit against each armour.
        double Strike(ArenaLoadout kit, ArenaGuard armour)
        {
            var npc = At(new Vec(0, -7), kit);
            return ArenaRules.Attack(ref npc, At(new Vec(0, -6), ArenaLoadout.Standard, armour), ArenaAttack.Melee, rng);
        }
        double Shot(ArenaLoadout kit, ArenaGuard armour)
            => Enumerable.Range(0, 50).Max(_ =>
            {
                var npc = At(new Vec(0, -7), kit);
                return ArenaRules.Attack(ref npc, At(new Vec(0, -5), ArenaLoadout.Standard, armour), ArenaAttack.Shot, rng);
            });
        var expected = new Dictionary<(ArenaLoadout, ArenaGuard), double>
        {
            [(ArenaLoadout.Standard, ArenaGuard.None)] = 1, [(ArenaLoadout.Standard, ArenaGuard.Kinetic)] = 0.65, [(ArenaLoadout.Standard, ArenaGuard.Energy)] = 0.65,
            [(ArenaLoadout.Kinetic, ArenaGuard.None)] = 1, [(ArenaLoadout.Kinetic, ArenaGuard.Kinetic)] = 0.3, [(ArenaLoadout.Kinetic, ArenaGuard.Energy)] = 1,
            [(ArenaLoadout.Energy, ArenaGuard.None)] = 1, [(ArenaLoadout.Energy, ArenaGuard.Kinetic)] = 1, [(ArenaLoadout.Energy, ArenaGuard.Energy)] = 0.3,
        };
        foreach (var ((kit, armour), share) in expected)
        {
            Assert.Equal(ArenaRules.MeleeDamage * share, Strike(kit, armour), 9);
            Assert.Equal(ArenaRules.ShotDamage * share, Shot(kit, armour), 9);
        }
        // The kits differ in nothing else, and the NPC (no armour) takes a player's hits in full.
        Assert.All(new[] { ArenaLoadout.Kinetic, ArenaLoadout.Energy }, kit =>
        {
            var (a, b) = (At(default, kit), At(default, ArenaLoadout.Standard));
            Assert.Equal((b.MeleeDamage, b.ShotDamage, b.Aim, b.Speed), (a.MeleeDamage, a.ShotDamage, a.Aim, a.Speed));
        });
        var player = At(new Vec(0, -7), ArenaLoadout.Standard, ArenaGuard.Kinetic);
        Assert.Equal(ArenaRules.MeleeDamage, ArenaRules.Attack(ref player, At(new Vec(0, -6), ArenaLoadout.Energy), ArenaAttack.Melee, rng));
        Assert.Throws<ArgumentOutOfRangeException>(() => player.Guard((ArenaGuard)7));
        Assert.Throws<ArgumentOutOfRangeException>(() => player.Equip((ArenaLoadout)3));
    }

    [Fact]
    public void The_loadout_game_armours_half_its_players_against_kinetic_damage_and_half_against_energy_and_the_plain_game_none()
    {
        var rng = new Rng(8);
        var loadout = ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true" });
        var guards = Enumerable.Range(0, 400).Select(_ => ((ArenaPlayer)loadout.SampleTask(rng, TaskSplit.Test)).Guard).ToArray();
        Assert.InRange(guards.Count(g => g == ArenaGuard.Kinetic), 160, 240);
        Assert.Equal(400, guards.Count(g => g is ArenaGuard.Kinetic or ArenaGuard.Energy));
        Assert.All(Enumerable.Range(0, 50), _ => Assert.Equal(ArenaGuard.None, ((ArenaPlayer)new ArenaTasks().SampleTask(rng, TaskSplit.Train)).Guard));
        // The env puts the task's armour on the player every round, and none on the NPC.
        var env = (ArenaEnv)loadout.CreateEnv();
        var obs = new float[loadout.ObservationSpace.Size];
        env.SetTask(Player("rush") with { Guard = ArenaGuard.Energy });
        for (int r = 0; r < 2; r++)
        {
            env.Reset(rng, obs);
            Assert.Equal((0, 0.7), (env.Round.Player.KineticAbsorbed, env.Round.Player.EnergyAbsorbed));
            Assert.Equal((0, 0), (env.Round.Npc.KineticAbsorbed, env.Round.Npc.EnergyAbsorbed));
        }
    }

    [Fact]
    public void A_task_knowing_oracle_reads_the_armour_in_the_loadout_game_and_no_armour_in_the_plain_game()
    {
        var loadout = ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true" });
        var plain = ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "false" });
        int n = ArenaStyles.All.Count;
        Assert.Equal(n + 3, plain.TaskFeatureSize);
        Assert.Equal(n + 4, loadout.TaskFeatureSize);
        float[] Features(ArenaTasks tasks, ArenaPlayer p)
        {
            var f = new float[tasks.TaskFeatureSize];
            tasks.WriteTaskFeatures(p, f);
            return f;
        }
        var kinetic = Features(loadout, Player("rush") with { Guard = ArenaGuard.Kinetic });
        var energy = Features(loadout, Player("rush") with { Guard = ArenaGuard.Energy });
        Assert.Equal((1f, -1f), (kinetic[n + 3], energy[n + 3]));
        // Everything else is the plain game's: the style and the parameters.
        Assert.Equal(Features(plain, Player("rush")), kinetic[..(n + 3)]);
        Assert.Equal(kinetic[..(n + 3)], energy[..(n + 3)]);
        Assert.Equal(1f, kinetic[ArenaStyles.All.ToList().FindIndex(s => s.Name == "rush")]);
        // A loadout-game task always has armour; one without is not the loadout game's.
        var e = Assert.Throws<ArgumentException>(() => Features(loadout, Player("rush")));
        Assert.Contains("without armour", e.Message);
    }

    [Fact]
    public void Training_rounds_of_the_loadout_game_sometimes_get_a_random_loadout_and_held_out_rounds_never()
    {
        var tasks = ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true", ["loadout-exploration"] = "0.6", ["credit-drawn-kit"] = "true" });
        var rng = new Rng(9);
        var training = (ArenaPlayer)tasks.SampleTask(rng, TaskSplit.Train);
        Assert.Equal(0.6, training.LoadoutExploration);
        Assert.Equal(0, ((ArenaPlayer)tasks.SampleTask(rng, TaskSplit.Test)).LoadoutExploration);
        Assert.Equal(0, ((ArenaPlayer)new ArenaTasks().SampleTask(rng, TaskSplit.Train)).LoadoutExploration); // the plain game has no loadouts
        Assert.Equal(ArenaTasks.DefaultLoadoutExploration, ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true" }).LoadoutExploration);

        // Always picking the kinetic kit: a training player overrides the pick in about 0.6 × 2/3 of its rounds, evenly over
        // the other kits; a held-out one never does, and neither does a plain-game env given an exploring task.
        int Kinetic(ArenaEnv env, ArenaPlayer player, int rounds, int[] kits)
        {
            env.SetTask(player);
            var obs = new float[ArenaEnv.LoadoutObservationSize];
            int kinetic = 0;
            for (int r = 0; r < rounds; r++)
            {
                env.Reset(rng, obs);
                env.Step([1 * 3 + 1], rng, obs);
                kits[(int)env.Round.Loadout]++;
                Assert.Equal([env.Round.Loadout == ArenaLoadout.Kinetic ? 1f : 0f, env.Round.Loadout == ArenaLoadout.Energy ? 1f : 0f], obs[16..]); // it sees what it got
                // and a learner is told the action that picks the kit drawn (the move kept); later steps play what they are given
                var played = new float[1];
                Assert.Equal(env.Round.Loadout != ArenaLoadout.Kinetic, env.WritePlayedAction(played));
                if (env.Round.Loadout != ArenaLoadout.Kinetic) Assert.Equal(1 * 3 + (int)env.Round.Loadout, played[0]);
                env.Step([1 * 3 + 1], rng, obs);
                Assert.False(env.WritePlayedAction(played));
                if (env.Round.Loadout == ArenaLoadout.Kinetic) kinetic++;
            }
            return kinetic;
        }
        var kits = new int[3];
        int kept = Kinetic((ArenaEnv)tasks.CreateEnv(), training, 3000, kits);
        Assert.InRange(kept, 3000 * 0.55, 3000 * 0.65);
        Assert.InRange(kits[0] - kits[2], -150, 150);
        Assert.Equal(1000, Kinetic((ArenaEnv)tasks.CreateEnv(), training with { LoadoutExploration = 0 }, 1000, new int[3]));
        // By default the learner is not told: the draw replaces its pick and the round counts for the pick.
        var silent = (ArenaEnv)ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadout-exploration"] = "1" }).CreateEnv();
        silent.SetTask(training with { LoadoutExploration = 1 });
        var silentObs = new float[ArenaEnv.LoadoutObservationSize];
        int replaced = 0;
        for (int r = 0; r < 60; r++)
        {
            silent.Reset(rng, silentObs);
            silent.Step([1 * 3 + 1], rng, silentObs);
            if (silent.Round.Loadout != ArenaLoadout.Kinetic) replaced++;
            Assert.False(silent.WritePlayedAction(new float[1]));
        }
        Assert.InRange(replaced, 20, 60);
        Assert.Throws<SettingException>(() => ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "false", ["credit-drawn-kit"] = "true" }));
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
    public void Settings_that_only_shape_training_leave_the_held_out_trials_and_their_play_as_they_are()
    {
        // An oracle trained with credited kit draws and the all-style run without: evaluated on one style, they must meet
        // the same held-out players and play them by the same rules, or a paired comparison would not be paired.
        var run = ArenaTasks.FromSettings(new Dictionary<string, string> { ["style"] = "rush" });
        var oracle = ArenaTasks.FromSettings(new Dictionary<string, string> { ["style"] = "rush", ["credit-drawn-kit"] = "true", ["loadout-exploration"] = "0.8" });
        Assert.NotEqual(run.SettingsText(), oracle.SettingsText());
        Assert.Equal(run.HeldOutSettingsText(), oracle.HeldOutSettingsText());
        Assert.Contains("standard-damage=0.5", run.HeldOutSettingsText());
        Assert.NotEqual(run.HeldOutSettingsText(), ArenaTasks.FromSettings(new Dictionary<string, string> { ["style"] = "rush", ["standard-damage"] = "0.65" }).HeldOutSettingsText());
        Assert.NotEqual(run.HeldOutSettingsText(), ArenaTasks.FromSettings(new Dictionary<string, string>()).HeldOutSettingsText());

        var (ours, theirs) = (TaskDistribution.TaskStream(3, TaskSplit.Test), TaskDistribution.TaskStream(3, TaskSplit.Test));
        var (envA, envB) = (run.CreateEnv(), oracle.CreateEnv());
        var (obsA, obsB) = (new float[ArenaEnv.LoadoutObservationSize], new float[ArenaEnv.LoadoutObservationSize]);
        var actions = new Rng(5);
        for (int trial = 0; trial < 20; trial++)
        {
            var (a, b) = ((ArenaPlayer)run.SampleTask(ours, TaskSplit.Test), (ArenaPlayer)oracle.SampleTask(theirs, TaskSplit.Test));
            Assert.Equal((a.Style, a.Guard, a.UnseenParameters, a.LoadoutExploration), (b.Style, b.Guard, b.UnseenParameters, b.LoadoutExploration));
            Assert.Equal(a.Parameters, b.Parameters);
            envA.SetTask(a);
            envB.SetTask(b);
            var (rngA, rngB) = (new Rng((ulong)trial), new Rng((ulong)trial));
            envA.Reset(rngA, obsA);
            envB.Reset(rngB, obsB);
            StepResult stepA, stepB;
            do
            {
                int action = actions.NextInt(ArenaEnv.Actions);
                (stepA, stepB) = (envA.Step(action, rngA, obsA), envB.Step(action, rngB, obsB));
                Assert.Equal(stepA, stepB);
                Assert.Equal(obsA, obsB);
            } while (!stepA.Done);
        }
    }

    [Fact]
    public void A_weaker_standard_kit_puts_that_share_of_its_damage_through_either_armour_and_leaves_typed_kits_as_they_are()
    {
        var tasks = ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true", ["standard-damage"] = "0.5" });
        Assert.Equal(0.5, tasks.StandardDamage);
        // 0.5 is the loadout game's default (the family's default game); the plain game's share is the even split.
        Assert.Equal(ArenaTasks.DefaultStandardDamage, ArenaTasks.FromSettings(new Dictionary<string, string>()).StandardDamage);
        Assert.Equal(ArenaRules.StandardThrough, ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "false" }).StandardDamage);
        Assert.Equal(ArenaRules.StandardThrough, ArenaTasks.FromSettings(new Dictionary<string, string> { ["standard-damage"] = "0.65" }).StandardDamage);
        Assert.Contains(tasks.Settings, s => s.Key == "standard-damage" && s.Default == "0.5");
        var rng = new Rng(10);
        // A strike at point blank with each kit, the round played by the env as a training run plays it.
        double Struck(ArenaLoadout kit, ArenaGuard armour)
        {
            var env = (ArenaEnv)tasks.CreateEnv();
            env.SetTask(Player("camp") with { Guard = armour });
            env.Reset(rng, new float[tasks.ObservationSpace.Size]);
            env.Step([(int)kit], rng, new float[tasks.ObservationSpace.Size]); // stay, pick the kit
            var npc = env.Round.Npc;
            npc.Position = env.Round.Player.Position + new Vec(1, 0);
            return ArenaRules.Attack(ref npc, env.Round.Player, ArenaAttack.Melee, rng);
        }
        foreach (var armour in new[] { ArenaGuard.Kinetic, ArenaGuard.Energy })
        {
            Assert.Equal(ArenaRules.MeleeDamage * 0.5, Struck(ArenaLoadout.Standard, armour), 9);
            Assert.Equal(ArenaRules.MeleeDamage * (armour == ArenaGuard.Kinetic ? 0.3 : 1), Struck(ArenaLoadout.Kinetic, armour), 9);
            Assert.Equal(ArenaRules.MeleeDamage * (armour == ArenaGuard.Energy ? 0.3 : 1), Struck(ArenaLoadout.Energy, armour), 9);
        }
        Assert.Equal(0.5, tasks.CreateRound().StandardDamage);
        // The plain game has no armour for the rule to act on; out-of-range shares are refused.
        var refused = Assert.Throws<SettingException>(() => ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "false", ["standard-damage"] = "0.5" }));
        Assert.Contains("loadouts=true", refused.Message);
        foreach (var bad in new[] { "0", "1.2", "-0.5", "half" })
            Assert.Throws<SettingException>(() => ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true", ["standard-damage"] = bad }));
    }

    [Fact]
    public void Damage_numbers_show_the_share_of_a_hit_that_got_through_in_the_step_it_lands_and_nothing_else()
    {
        var tasks = ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true", ["standard-damage"] = "0.5", ["damage-numbers"] = "true" });
        Assert.Equal(ArenaEnv.DamageNumberObservationSize, tasks.ObservationSpace.Size);
        Assert.Equal(ArenaEnv.LoadoutObservationSize, ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "true" }).ObservationSpace.Size);
        var rng = new Rng(12);
        var obs = new float[tasks.ObservationSpace.Size];
        foreach (var (kit, armour, share) in new[] { (ArenaLoadout.Kinetic, ArenaGuard.Energy, 1.0), (ArenaLoadout.Kinetic, ArenaGuard.Kinetic, 0.3), (ArenaLoadout.Standard, ArenaGuard.Kinetic, 0.5) })
        {
            var env = (ArenaEnv)tasks.CreateEnv();
            env.SetTask(Player("camp") with { Guard = armour });
            env.Reset(rng, obs);
            env.Step([(int)kit], rng, obs); // stay, pick the kit
            Assert.Equal(0, obs[18]);
            // Walk up to the player (it hides; the NPC goes round), strike when within reach, and read the number of the step that hit.
            bool struck = false;
            for (int t = 0; t < 150 && !env.Round.Over && !struck; t++)
            {
                bool reach = (env.Round.Player.Position - env.Round.Npc.Position).Length <= ArenaRules.MeleeRange && env.Round.Npc.MeleeCooldown == 0;
                env.Step([reach ? 1 : 1 * 3], rng, obs);
                if (reach) struck = true;
                else Assert.True(obs[18] == 0 || env.Round.NpcHit);
            }
            Assert.True(struck, $"the NPC never reached the {armour} camper");
            Assert.True(env.Round.NpcHit);
            Assert.Equal(share, obs[18], 5);
            Assert.Equal(share, env.Round.NpcHitShare, 9);
            env.Step([0], rng, obs); // stay, no attack
            Assert.Equal(0, obs[18]);
        }
        var refused = Assert.Throws<SettingException>(() => ArenaTasks.FromSettings(new Dictionary<string, string> { ["loadouts"] = "false", ["damage-numbers"] = "true" }));
        Assert.Contains("loadouts=true", refused.Message);
    }

    [Fact]
    public void The_hand_written_npc_takes_a_typed_kit_at_random_each_round_only_where_the_standard_kit_is_weaker()
    {
        var options = new MetaTestOptions(300, 11);
        // The share of rounds played with the kinetic and with the energy kit, per round of the trial.
        (IReadOnlyList<double> Kinetic, IReadOnlyList<double> Energy) Kits(Dictionary<string, string> settings)
        {
            var metrics = MetaTest.Run(ArenaStateMachine.Agent, ArenaTasks.FromSettings(settings), options).Metrics!;
            return (metrics["kinetic"], metrics["energy"]);
        }
        var (kinetic, energy) = Kits(new Dictionary<string, string> { ["loadouts"] = "true", ["standard-damage"] = "0.5" });
        for (int round = 0; round < 3; round++)
        {
            Assert.Equal(1, kinetic[round] + energy[round], 9); // never the standard kit
            Assert.InRange(kinetic[round], 0.4, 0.6);
        }
        var standard = Kits(new Dictionary<string, string> { ["loadouts"] = "true", ["standard-damage"] = "0.65" });
        Assert.All(standard.Kinetic.Concat(standard.Energy), share => Assert.Equal(0, share));
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
