using System.Globalization;
using MetaRL.Core.Baselines;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Games;

/// <summary>A task of <c>arena</c>: one scripted player, its style, parameters and (in the loadout game) armour hidden from the NPC.</summary>
/// <param name="UnseenParameters">Its parameters come from the held-out ranges.</param>
/// <param name="Guard">What it is armoured against (the loadout game; <see cref="ArenaGuard.None"/> otherwise).</param>
/// <param name="LoadoutExploration">
/// The share of rounds whose loadout is drawn at random in place of the NPC's pick: the loadout game's training tasks
/// only, so that a learner sees what every kit does against every armour; 0 for held-out tasks.
/// </param>
public sealed record ArenaPlayer(ArenaStyle Style, double[] Parameters, bool UnseenParameters, ArenaGuard Guard = ArenaGuard.None, double LoadoutExploration = 0) : ITask
{
    public string Label => Style.Name;

    public IReadOnlyList<KeyValuePair<string, double>> Describe()
        =>
        [
            KeyValuePair.Create("style", (double)ArenaStyles.All.ToList().IndexOf(Style)), KeyValuePair.Create("speed", Parameters[0]),
            KeyValuePair.Create("aggression", Parameters[1]), KeyValuePair.Create("reaction", Parameters[2]),
            .. Guard == ArenaGuard.None ? (KeyValuePair<string, double>[])[] : [KeyValuePair.Create("guard", (double)Guard)],
        ];
}

/// <summary>
/// The NPC's side of <c>arena</c>. An episode is a round; the player is the same through the trial's rounds. Action: one
/// of 27, a move (stay, or at full speed toward the player, away, to either side, or between those) times an attack (none,
/// melee, shot). Reward: the damage the NPC deals minus the damage it takes, per 100 health, and ±1 for winning or
/// losing the round. Observation (16): the NPC's position, the player's offset and distance, whether the line between
/// them is clear, both healths, the NPC's two cooldowns, the player's velocity, what the player did last step (struck,
/// shot, hit) and the time in the round; with loadouts (18) also whether the NPC carries the kinetic or the energy kit, and the
/// round's first action picks the loadout (<see cref="NpcMove"/>); with <paramref name="damageNumbers"/> (19) also the share
/// of its weapon's damage the NPC's last attack did (<see cref="ArenaRound.NpcHitShare"/>).
/// </summary>
public sealed class ArenaEnv(int steps, bool loadouts = false, double standardDamage = ArenaRules.StandardThrough, bool damageNumbers = false, bool creditDrawnKit = false) : Env<ArenaPlayer>
{
    /// <summary>
    /// The observation's size without loadouts; with them two more values say which one the NPC carries, and with damage
    /// numbers one more the share of its damage the NPC's last hit did.
    /// </summary>
    public const int ObservationSize = 16, LoadoutObservationSize = 18, DamageNumberObservationSize = 19, Moves = 9, Actions = Moves * 3;

    private readonly ArenaRound _round = new(steps, standardDamage);
    private ArenaPlayerStyle? _player;

    public override Space ObservationSpace { get; } = new Box(-2, 2, ObservationSizeOf(loadouts, damageNumbers));

    /// <summary>How many values the observation has, with or without loadouts and damage numbers (which need loadouts).</summary>
    public static int ObservationSizeOf(bool loadouts, bool damageNumbers = false)
        => !loadouts ? ObservationSize : damageNumbers ? DamageNumberObservationSize : LoadoutObservationSize;
    public override Space ActionSpace { get; } = new Discrete(Actions);

    /// <summary>Whether the NPC's first decision of a round picks its loadout (<see cref="NpcMove"/>).</summary>
    public bool Loadouts => loadouts;

    /// <summary>The round being played (for rendering and examples).</summary>
    public ArenaRound Round => _round;

    private ArenaGuard _guard;
    private double _exploration;
    private int _played = -1; // the action the last step played in place of the one given (-1: the one given)

    protected override void OnTaskSet(ArenaPlayer task)
        => (_player, _guard, _exploration) = (task.Style.Create(task.Parameters), task.Guard, loadouts ? task.LoadoutExploration : 0);

    public override void Reset(Rng rng, Span<float> observation)
    {
        _played = -1;
        _player!.Start(_round, rng);
        _round.Player.Guard(_guard);
        Observe(_round, observation);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        ActionSpace.Validate(action);
        if (_player is null || _round.Over) throw new InvalidOperationException("arena: reset before stepping, and after a round is over.");
        int npc = (int)action[0];
        // A training round's kit may be drawn at random instead (ArenaPlayer.LoadoutExploration); the NPC sees which it got,
        // and with creditDrawnKit a learner is told the action played (WritePlayedAction), so that the round counts for the kit drawn.
        _played = -1;
        if (_round.Step == 0 && _exploration > 0 && rng.NextDouble() < _exploration)
        {
            int drawn = npc / 3 * 3 + rng.NextInt(3);
            if (drawn != npc) (npc, _played) = (drawn, creditDrawnKit ? drawn : -1);
        }
        var player = _player.Decide(_round, rng);
        double balance = _round.Advance(NpcMove(_round, npc, loadouts), player, rng);
        Observe(_round, observation);
        return Outcome(_round, balance);
    }

    /// <summary>
    /// With <c>credit-drawn-kit</c>, after a training round's first step whose kit was drawn at random, the action that picks
    /// the kit drawn (its move unchanged); otherwise the learner is left to credit the round to the kit it picked.
    /// </summary>
    public override bool WritePlayedAction(Span<float> action)
    {
        if (_played < 0) return false;
        action[0] = _played;
        return true;
    }

    /// <summary>The NPC's reward for a step that changed the health balance by <paramref name="balance"/>, and whether the round ended (a fall, or the time).</summary>
    public static StepResult Outcome(ArenaRound round, double balance)
    {
        double reward = balance / ArenaRules.MaxHealth;
        if (!round.Over) return new StepResult(reward, false, false);
        bool fell = round.Npc.Health <= 0 || round.Player.Health <= 0;
        return new StepResult(reward + round.Outcome * 2 - 1, Terminated: fell, Truncated: !fell);
    }

    /// <summary>
    /// The round's outcome for the NPC (1 won, 0.5 drawn, 0 lost) and its share of the damage dealt (0.5 when none was);
    /// with loadouts also whether it carried the kinetic kit and whether the energy kit (1 or 0).
    /// </summary>
    public override void WriteEpisodeMetrics(Span<double> metrics)
    {
        metrics[0] = _round.Outcome;
        metrics[1] = _round.Dealt + _round.Taken > 0 ? _round.Dealt / (_round.Dealt + _round.Taken) : 0.5;
        if (!loadouts) return;
        metrics[2] = _round.Loadout == ArenaLoadout.Kinetic ? 1 : 0;
        metrics[3] = _round.Loadout == ArenaLoadout.Energy ? 1 : 0;
    }

    public override void WriteTrace(Span<double> values)
    {
        values[0] = (_round.Player.Position - _round.Npc.Position).Length;
        values[1] = _round.Npc.Health;
        values[2] = _round.Player.Health;
    }

    /// <summary>
    /// Action <paramref name="action"/> as the NPC's velocity (at its speed) and attack. With <paramref name="loadouts"/>
    /// the round's first decision picks the loadout instead of attacking (the fighters start out of each other's reach):
    /// its attack part none, melee or shot picks <see cref="ArenaLoadout.Standard"/>, <see cref="ArenaLoadout.Kinetic"/> or
    /// <see cref="ArenaLoadout.Energy"/>.
    /// </summary>
    public static ArenaMove NpcMove(ArenaRound round, int action, bool loadouts = false)
    {
        if ((uint)action >= Actions) throw new ArgumentOutOfRangeException(nameof(action), action, $"arena: an action is 0 to {Actions - 1}.");
        var u = (round.Player.Position - round.Npc.Position).Unit;
        var l = u.Left;
        var dir = (action / 3) switch
        {
            0 => default, 1 => u, 2 => -1 * u, 3 => l, 4 => -1 * l,
            5 => (u + l).Unit, 6 => (u - l).Unit, 7 => (l - u).Unit, _ => (-1 * (u + l)).Unit,
        };
        if (!loadouts || round.Step != 0) return new(round.Npc.Speed * dir, (ArenaAttack)(action % 3));
        var picked = (ArenaLoadout)(action % 3);
        var equipped = default(Fighter);
        equipped.Equip(picked);
        return new(equipped.Speed * dir, ArenaAttack.None, picked);
    }

    /// <summary>
    /// Writes the NPC's observation of <paramref name="r"/> (the layout <see cref="ArenaEnv"/> describes), into
    /// <see cref="ObservationSize"/> values, or <see cref="LoadoutObservationSize"/> with the loadout's two flags (kinetic, energy),
    /// or <see cref="DamageNumberObservationSize"/> with the share of its damage the NPC's last hit did too.
    /// </summary>
    public static void Observe(ArenaRound r, Span<float> o)
    {
        var offset = r.Player.Position - r.Npc.Position;
        o[0] = (float)(r.Npc.Position.X / ArenaRules.HalfSize);
        o[1] = (float)(r.Npc.Position.Y / ArenaRules.HalfSize);
        o[2] = (float)(offset.X / ArenaRules.HalfSize);
        o[3] = (float)(offset.Y / ArenaRules.HalfSize);
        o[4] = (float)(offset.Length / (2 * ArenaRules.HalfSize));
        o[5] = ArenaRules.LineOfSight(r.Npc.Position, r.Player.Position) ? 1 : 0;
        o[6] = (float)(r.Npc.Health / ArenaRules.MaxHealth);
        o[7] = (float)(r.Player.Health / ArenaRules.MaxHealth);
        o[8] = (float)r.Npc.MeleeCooldown / ArenaRules.MeleeCooldownSteps;
        o[9] = (float)r.Npc.ShotCooldown / ArenaRules.ShotCooldownSteps;
        o[10] = (float)(r.Player.Velocity.X / ArenaRules.NpcSpeed);
        o[11] = (float)(r.Player.Velocity.Y / ArenaRules.NpcSpeed);
        o[12] = r.PlayerAttack == ArenaAttack.Melee ? 1 : 0;
        o[13] = r.PlayerAttack == ArenaAttack.Shot ? 1 : 0;
        o[14] = r.PlayerHit ? 1 : 0;
        o[15] = (float)r.Step / r.Steps;
        if (o.Length < LoadoutObservationSize) return;
        o[16] = r.Loadout == ArenaLoadout.Kinetic ? 1 : 0;
        o[17] = r.Loadout == ArenaLoadout.Energy ? 1 : 0;
        if (o.Length < DamageNumberObservationSize) return;
        o[18] = (float)r.NpcHitShare;
    }
}

/// <summary>
/// <c>arena</c>: an NPC against a scripted player in a small real-time duel (<see cref="ArenaRules"/>), 10 decisions a
/// second; the player's style (<see cref="ArenaStyles"/>) and its speed, aggression and reaction time are hidden per task.
/// A trial is <c>rounds</c> rounds against the same player: the NPC should work out the style in the first and counter it
/// in the next; with <c>loadouts</c> it also picks its kit at the start of each round (<see cref="ArenaLoadout"/>), the
/// choice that the first round's knowledge pays for. Held-out tasks are the styles never trained on and the training styles with unseen parameters.
/// The family's settings default to the loadout game (<c>loadouts=true</c>, <c>standard-damage</c> <see cref="DefaultStandardDamage"/>);
/// this constructor's to the plain game.
/// </summary>
public sealed class ArenaTasks : TaskDistribution
{
    // The 'unseen-parameters' choices, indexed by ArenaParameterSplit.
    private static readonly string[] HeldOutChoices = ["both", "styles", "parameters"], SplitChoices = ["between", "beyond"];
    private readonly int _rounds, _steps;
    private readonly string _heldOut;
    private readonly HeldOutPopulation<ArenaStyle> _population;

    public ArenaTasks(int rounds = 3, double roundSeconds = 20, string heldOut = "both", string? style = null, bool loadouts = false, double loadoutExploration = DefaultLoadoutExploration,
        ArenaParameterSplit split = ArenaParameterSplit.Between, double standardDamage = ArenaRules.StandardThrough, bool damageNumbers = false, bool creditDrawnKit = false)
    {
        if (creditDrawnKit && !loadouts) throw new SettingException("arena: 'credit-drawn-kit' is about the loadout game's drawn kits; set loadouts=true with it.");
        CreditDrawnKit = creditDrawnKit;
        if (damageNumbers && !loadouts) throw new SettingException("arena: 'damage-numbers' shows what the loadout game's armour let through; set loadouts=true with it.");
        DamageNumbers = damageNumbers;
        if (!(standardDamage is >= 0.05 and <= 1)) throw new SettingException($"arena: 'standard-damage' must be from 0.05 to 1, got {standardDamage.ToString(CultureInfo.InvariantCulture)}.");
        if (!loadouts && standardDamage != ArenaRules.StandardThrough)
            throw new SettingException("arena: 'standard-damage' is a rule of the loadout game; set loadouts=true with it.");
        StandardDamage = standardDamage;
        if (!Enum.IsDefined(split)) throw new SettingException($"arena: 'unseen-parameters' must be one of {string.Join(", ", SplitChoices)}, got {split}.");
        Split = split;
        if (!(loadoutExploration is >= 0 and <= 1)) throw new SettingException($"arena: 'loadout-exploration' must be from 0 to 1, got {loadoutExploration.ToString(CultureInfo.InvariantCulture)}.");
        LoadoutExploration = loadoutExploration;
        if (rounds < 1) throw new SettingException($"arena: 'rounds' must be at least 1, got {rounds}.");
        if (!HeldOutChoices.Contains(heldOut)) throw new SettingException($"arena: 'held-out' must be one of {string.Join(", ", HeldOutChoices)}, got '{heldOut}'.");
        _steps = (int)Math.Round(roundSeconds / ArenaRules.Dt);
        if (_steps < 10) throw new SettingException($"arena: 'round-seconds' must be at least 1, got {roundSeconds.ToString(CultureInfo.InvariantCulture)}.");
        (_rounds, _heldOut, Style, Loadouts) = (rounds, heldOut, style, loadouts);
        ObservationSpace = new Box(-2, 2, ArenaEnv.ObservationSizeOf(loadouts, damageNumbers));
        var trainingStyles = ArenaStyles.All.Where(s => !s.HeldOut).ToArray();
        if (style is null || style == "all") Style = null;
        else
        {
            var chosen = trainingStyles.FirstOrDefault(s => s.Name == style)
                ?? throw new SettingException($"arena: 'style' must be all or a training style ({string.Join(", ", trainingStyles.Select(s => s.Name))}), got '{style}'.");
            trainingStyles = [chosen];
        }
        // Restricted to one style (a per-style oracle), the held-out tasks are that style with unseen parameters.
        _population = new(trainingStyles, [.. HeldOutStyles], Style is null ? heldOut : "parameters", "styles", (s, rng, unseen) => s.Draw(rng, unseen, split));
    }

    public static ArenaTasks FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("arena", values);
        int rounds = r.Int("rounds", 3, 1, 1000);
        double seconds = r.Double("round-seconds", 20, 1, 3600);
        string heldOut = r.Choice("held-out", "both", HeldOutChoices);
        string style = r.Choice("style", "all", ["all", .. ArenaStyles.All.Where(s => !s.HeldOut).Select(s => s.Name)]);
        bool loadouts = r.Bool("loadouts", true);
        double exploration = r.Double("loadout-exploration", DefaultLoadoutExploration, 0, 1);
        var split = (ArenaParameterSplit)Array.IndexOf(SplitChoices, r.Choice("unseen-parameters", SplitChoices[0], SplitChoices));
        // The plain game has no kits, so its standard damage is the even split; the loadout game's default makes a probe pay.
        double standardDamage = r.Double("standard-damage", loadouts ? DefaultStandardDamage : ArenaRules.StandardThrough, 0.05, 1);
        bool damageNumbers = r.Bool("damage-numbers", false);
        bool creditDrawnKit = r.Bool("credit-drawn-kit", false);
        r.EnsureAllUsed();
        return new ArenaTasks(rounds, seconds, heldOut, style, loadouts, exploration, split, standardDamage, damageNumbers, creditDrawnKit);
    }

    /// <summary>Where the held-out players' speed, aggression and reaction time lie against the training players' (<see cref="ArenaParameterSplit"/>).</summary>
    public ArenaParameterSplit Split { get; }

    /// <summary>The one training style the tasks are restricted to (a per-style oracle's training), or null for all.</summary>
    public string? Style { get; }

    public static IReadOnlyList<ArenaStyle> HeldOutStyles { get; } = ArenaStyles.All.Where(s => s.HeldOut).ToArray();

    public override string Name => "arena";
    public override string EpisodeName => "round";
    public override int Horizon => _steps;
    public override int EpisodesPerTrial => _rounds;
    public override Space ObservationSpace { get; }
    public override Space ActionSpace { get; } = new Discrete(ArenaEnv.Actions);

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        var (style, parameters, unseen) = _population.Sample(rng, split);
        // The loadout game's players are armoured against kinetic or energy damage, half each (drawn only there, so the plain
        // game's tasks are as before).
        var guard = Loadouts ? (rng.NextInt(2) == 0 ? ArenaGuard.Kinetic : ArenaGuard.Energy) : ArenaGuard.None;
        return new ArenaPlayer(style, parameters, unseen, guard, Loadouts && split == TaskSplit.Train ? LoadoutExploration : 0);
    }

    public override IEnv CreateEnv() => new ArenaEnv(_steps, Loadouts, StandardDamage, DamageNumbers, CreditDrawnKit);

    /// <summary>A round of this family's rules, for a game loop that plays it itself (the NPC's side is <see cref="ArenaEnv"/>'s static methods).</summary>
    public ArenaRound CreateRound() => new(_steps, StandardDamage);

    /// <summary>Whether the NPC picks a loadout at the start of each round (<see cref="ArenaLoadout"/>).</summary>
    public bool Loadouts { get; }

    /// <summary>
    /// In the loadout game, the share of the training tasks' rounds whose loadout is drawn at random in place of the
    /// NPC's pick (<see cref="ArenaPlayer.LoadoutExploration"/>). Without it a learner can settle on one kit before it has
    /// seen what the others do against each armour, and then has no reason to probe with one or to switch.
    /// </summary>
    public double LoadoutExploration { get; }

    /// <summary>
    /// Whether a learner is told the action that picks a kit drawn by <see cref="LoadoutExploration"/> (<see cref="IEnv.WritePlayedAction"/>),
    /// and so credits the round to the kit it fought with, not the one it had picked.
    /// </summary>
    public bool CreditDrawnKit { get; }

    /// <summary>
    /// In the loadout game, the share of the standard kit's damage that gets through either armour: by default
    /// <see cref="ArenaRules.StandardThrough"/> (0.65, a typed kit's average), lower to make a typed kit the better gamble
    /// in a round whose armour the NPC does not know yet, so that probing pays for itself.
    /// </summary>
    public double StandardDamage { get; }

    /// <summary>
    /// In the loadout game, whether the observation also shows the share of its weapon's damage the NPC's last attack did
    /// (<see cref="ArenaRound.NpcHitShare"/>, in the step it lands): the number a game shows on a hit, which tells a typed
    /// kit's armour from one hit instead of from the player's health.
    /// </summary>
    public bool DamageNumbers { get; }

    /// <summary>The default <see cref="LoadoutExploration"/>.</summary>
    public const double DefaultLoadoutExploration = 0.3;

    /// <summary>The loadout game's default share of the standard kit's damage that gets through (the family's <c>standard-damage</c>): below the even split, so a probe with a typed kit pays.</summary>
    public const double DefaultStandardDamage = 0.5;

    /// <summary>
    /// The family's defaults before the loadout game with a weaker standard kit became the default (the game the issue's
    /// figures were reached in): the plain game. Runs whose checkpoints do not record these settings were trained so.
    /// </summary>
    public static IReadOnlyDictionary<string, string> EarlierDefaults { get; } = new Dictionary<string, string>
    {
        ["loadouts"] = "false",
        ["standard-damage"] = "0.65",
    };

    public override IReadOnlyList<EpisodeMetric> EpisodeMetrics => Loadouts ? LoadoutMetrics : PlainMetrics;

    private static readonly EpisodeMetric[] PlainMetrics =
    [
        new("winRate", "win rate", "rounds won (a draw counts half)", "F3"),
        new("damageRatio", "damage ratio", "the NPC's share of the damage dealt in the round (0.5 when none was)", "F3"),
    ];

    private static readonly EpisodeMetric[] LoadoutMetrics =
    [
        .. PlainMetrics,
        new("kinetic", "kinetic", "rounds the NPC played with the kinetic kit", "F3"),
        new("energy", "energy", "rounds the NPC played with the energy kit (the rest: standard)", "F3"),
    ];

    public override string GroupName => "style";

    /// <summary>Held-out and baseline rounds never draw a kit, so the share drawn and how a drawn kit is credited touch training alone.</summary>
    public override IReadOnlyList<string> TrainingOnlySettings { get; } = ["loadout-exploration", "credit-drawn-kit"];

    public override string? GroupOf(ITask task) => task is ArenaPlayer p
        ? HeldOutPopulation<ArenaStyle>.Group(p.Style.Name, p.Style.HeldOut, "unseen style", p.UnseenParameters)
        : null;

    public override IReadOnlyList<TraceChannel> TraceChannels { get; } = [new("distance (m)"), new("NPC health"), new("player health")];

    public override (string Unit, double PerStep) StepTime => ("s", ArenaRules.Dt);

    /// <summary>
    /// The style (one-hot over every style) and the speed, aggression and reaction time, each of order one; in the loadout
    /// game also the armour (+1 kinetic, −1 energy), which is as hidden from the NPC as the rest.
    /// </summary>
    public override int TaskFeatureSize => ArenaStyles.All.Count + 3 + (Loadouts ? 1 : 0);

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var p = task as ArenaPlayer ?? throw new ArgumentException($"arena: not an arena task ({task.GetType().Name}).", nameof(task));
        features.Clear();
        features[ArenaStyles.All.ToList().IndexOf(p.Style)] = 1;
        int n = ArenaStyles.All.Count;
        features[n] = (float)(p.Parameters[0] / 4);
        features[n + 1] = (float)p.Parameters[1];
        features[n + 2] = (float)(p.Parameters[2] / 6);
        if (Loadouts) features[n + 3] = p.Guard switch
        {
            ArenaGuard.Kinetic => 1,
            ArenaGuard.Energy => -1,
            _ => throw new ArgumentException($"arena: a player of the loadout game without armour ({p.Style.Name}).", nameof(task)),
        };
    }

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("rounds", _rounds.ToString(CultureInfo.InvariantCulture), "rounds against the same player in a trial (episodes)"),
        new("round-seconds", (_steps * ArenaRules.Dt).ToString(CultureInfo.InvariantCulture), "the longest a round lasts, in seconds (10 decisions a second)"),
        new("held-out", _heldOut, "held-out tasks: unseen styles, training styles with unseen parameters, or both (half each)"),
        new("unseen-parameters", SplitChoices[(int)Split], "where held-out players' speed, aggression and reaction time lie: between (a band inside the training ranges, never trained on) or beyond (faster, less aggressive and slower to react than any training player)"),
        new("style", Style ?? "all", "train and test against one training style only (a per-style oracle), or all"),
        new("loadouts", Loadouts ? "true" : "false", "the loadout game: each player's armour absorbs most of kinetic or of energy damage (hidden), and the NPC's first decision of a round picks the kind of damage it does: standard (half each), kinetic or energy"),
        new("loadout-exploration", LoadoutExploration.ToString(CultureInfo.InvariantCulture), "in the loadout game, the share of training rounds whose loadout is drawn at random instead of picked, so that the learner sees what every kit does against every armour (held-out rounds: never)"),
        new("standard-damage", StandardDamage.ToString(CultureInfo.InvariantCulture), "in the loadout game, the share of the standard kit's damage that gets through either armour (0.65 is as a typed kit's 1 or 0.3 on average; the default 0.5 makes probing with a typed kit pay; the plain game: 0.65, no kits); the hand-written NPC takes a typed kit at random when it is below 0.65"),
        new("damage-numbers", DamageNumbers ? "true" : "false", "in the loadout game, the observation also shows the share of its weapon's damage the NPC's last attack did, in the step it lands (1, 0.3 or the standard kit's share; 0 for a miss): the number a game shows on a hit"),
        new("credit-drawn-kit", CreditDrawnKit ? "true" : "false", "in the loadout game's training rounds whose kit was drawn (loadout-exploration), the learner learns the round as the pick of the kit drawn; by default as the pick it made, which the draw replaced"),
    ];
}

/// <summary>
/// The hand-written NPC of <c>arena</c>, the usual game-AI state machine: retreat and shoot when health is below 30 %,
/// otherwise chase the player, shooting when a shot is ready and clear, striking in melee when within reach. In the
/// loadout game it takes the standard kit, or, where the standard kit does less than a typed kit does on average
/// (<see cref="ArenaTasks.StandardDamage"/> below <see cref="ArenaRules.StandardThrough"/>), a typed kit drawn at random
/// each round: what a designer who cannot see the armour would give it.
/// </summary>
/// <param name="kits">Draws the typed kit of each round, or null to keep the standard kit.</param>
public sealed class ArenaStateMachine(Rng? kits = null) : IStrategy
{
    public static StrategyAgent Agent { get; } = new("hand-written NPC",
        (tasks, rng) => new ArenaStateMachine(tasks is ArenaTasks { Loadouts: true } t && t.StandardDamage < ArenaRules.StandardThrough ? rng : null));

    public void Reset() { }

    public void Act(ReadOnlySpan<float> o, Span<float> action)
    {
        double distance = o[4] * 2 * ArenaRules.HalfSize;
        bool clear = o[5] > 0.5, meleeReady = o[8] == 0, shotReady = o[9] == 0;
        bool canShoot = shotReady && clear && distance <= ArenaRules.ShotRange, canStrike = meleeReady && distance <= ArenaRules.MeleeRange;
        int move = o[6] < 0.3 ? 2 : distance > 1.0 ? 1 : 0;
        var attack = o[6] >= 0.3 && canStrike ? ArenaAttack.Melee : canShoot ? ArenaAttack.Shot : ArenaAttack.None;
        // A round's first decision (its time reads 0) picks the kit by its attack part, as ArenaEnv.NpcMove reads it.
        if (o[15] == 0 && kits is not null) attack = (ArenaAttack)(kits.NextInt(2) == 0 ? ArenaLoadout.Kinetic : ArenaLoadout.Energy);
        action[0] = move * 3 + (int)attack;
    }

    public void Observe(float reward, bool episodeEnded) { }
}
