using MetaRL.Engine;

namespace MetaRL.Tasks.Games;

/// <summary>
/// A scripted player of <c>arena</c>: how it decides each step. It sees the NPC as it was its reaction time ago; its
/// parameters (<see cref="Parameters"/>) are the speed (m/s), the aggression (the chance it fires a ready, aimed shot in
/// a step) and the reaction time (steps), then the style's own.
/// </summary>
public abstract class ArenaPlayerStyle(double[] parameters)
{
    /// <summary>speed, aggression, reaction steps, then the style's own.</summary>
    public double[] Parameters => parameters;

    protected double Speed => parameters[0];
    protected double Aggression => parameters[1];
    protected int Reaction => (int)parameters[2];

    /// <summary>The damage of the player's melee strike: a brawler's hits harder than the NPC's 20.</summary>
    public virtual double MeleeDamage => ArenaRules.MeleeDamage;

    /// <summary>The player's aim: 0 an ordinary shot that misses more at range, 1 a marksman's that does not.</summary>
    public virtual double Aim => 0;

    /// <summary>Starts a round of <paramref name="round"/> with this player's strengths.</summary>
    public void Start(ArenaRound round, Rng rng)
    {
        round.Start(rng, MeleeDamage, Aim);
        OnRoundStart(round);
    }

    /// <summary>A new round has started.</summary>
    protected internal virtual void OnRoundStart(ArenaRound round) { }

    public abstract ArenaMove Decide(ArenaRound round, Rng rng);

    /// <summary>Where the player believes the NPC is.</summary>
    protected Vec Seen(ArenaRound round) => round.NpcSeen(Reaction);

    /// <summary>Unit direction from the player to <paramref name="target"/>, steered around a pillar in the way.</summary>
    protected static Vec Toward(ArenaRound round, Vec target)
    {
        var me = round.Player.Position;
        var dir = (target - me).Unit;
        foreach (var (c, r) in ArenaRules.Pillars)
        {
            var toPillar = c - me;
            double ahead = Vec.Dot(dir, toPillar);
            if (ahead <= 0 || toPillar.Length > r + 1.5 || ahead > (target - me).Length) continue;
            // Pass on the side the target already leans to.
            var side = toPillar.Unit.Left;
            if (Vec.Dot(side, dir) < 0) side = -1 * side;
            dir = (dir + 1.5 * side).Unit;
        }
        return dir;
    }

    /// <summary>A shot at the NPC when it is ready, in range and in sight, with the player's aggression as the chance to take it.</summary>
    protected ArenaAttack Fire(ArenaRound round, Rng rng)
    {
        var me = round.Player.Position;
        var npc = Seen(round);
        bool aimed = round.Player.ShotCooldown == 0 && (npc - me).Length <= ArenaRules.ShotRange && ArenaRules.LineOfSight(me, npc);
        return aimed && rng.NextDouble() < Aggression ? ArenaAttack.Shot : ArenaAttack.None;
    }

    /// <summary>A melee strike when the NPC seems within reach and the weapon is ready; otherwise <paramref name="otherwise"/>.</summary>
    protected static ArenaAttack Strike(ArenaRound round, Vec npc, ArenaAttack otherwise)
        => round.Player.MeleeCooldown == 0 && (npc - round.Player.Position).Length <= ArenaRules.MeleeRange ? ArenaAttack.Melee : otherwise;
}

/// <summary>A brawler: runs straight at the NPC and strikes in melee, twice as hard as the NPC (40); it never shoots.</summary>
internal sealed class Rusher(double[] p) : ArenaPlayerStyle(p)
{
    public override double MeleeDamage => 2 * ArenaRules.MeleeDamage;

    public override ArenaMove Decide(ArenaRound round, Rng rng)
    {
        var npc = Seen(round);
        return new(Speed * Toward(round, npc), Strike(round, npc, ArenaAttack.None));
    }
}

/// <summary>A marksman (aim 0.8): keeps its preferred range (p[3] m), backing off when the NPC closes, strafing, shooting.</summary>
internal sealed class Kiter(double[] p) : ArenaPlayerStyle(p)
{
    public override double Aim => 0.8;

    public override ArenaMove Decide(ArenaRound round, Rng rng)
    {
        var npc = Seen(round);
        var me = round.Player.Position;
        double d = (npc - me).Length, range = Parameters[3];
        var toward = Toward(round, npc);
        var strafe = (round.Step / 20 % 2 == 0 ? 1 : -1) * (npc - me).Unit.Left;
        var v = d < range - 1 ? Speed * (-1 * toward + 0.5 * strafe).Unit
            : d > range + 1 ? Speed * toward
            : Speed * strafe;
        return new(v, Strike(round, npc, Fire(round, rng)));
    }
}

/// <summary>Hides behind the pillar nearest its start, on the side away from the NPC, and shoots whenever the NPC shows; strikes if it comes close.</summary>
internal sealed class Camper(double[] p) : ArenaPlayerStyle(p)
{
    private int _pillar;

    protected internal override void OnRoundStart(ArenaRound round)
        => _pillar = Enumerable.Range(0, ArenaRules.Pillars.Length).MinBy(i => (ArenaRules.Pillars[i].Centre - round.Player.Position).Length);

    public override ArenaMove Decide(ArenaRound round, Rng rng)
    {
        var npc = Seen(round);
        var (c, r) = ArenaRules.Pillars[_pillar];
        var spot = c - (r + ArenaRules.FighterRadius + 0.3) * (npc - c).Unit;
        var gap = spot - round.Player.Position;
        var v = gap.Length < 0.2 ? default : Math.Min(Speed, gap.Length / ArenaRules.Dt) * Toward(round, spot);
        return new(v, Strike(round, npc, Fire(round, rng)));
    }
}

/// <summary>Circles the NPC at its radius (p[3] m), clockwise or not (p[4]), shooting across its line of fire.</summary>
internal sealed class Flanker(double[] p) : ArenaPlayerStyle(p)
{
    public override ArenaMove Decide(ArenaRound round, Rng rng)
    {
        var npc = Seen(round);
        var away = round.Player.Position - npc;
        double d = away.Length, radius = Parameters[3];
        var tangent = (Parameters[4] > 0.5 ? 1 : -1) * away.Unit.Left;
        var v = Speed * (tangent + 1.2 * ((radius - d) / radius) * away.Unit).Unit;
        return new(v, Strike(round, npc, Fire(round, rng)));
    }
}

/// <summary>
/// Baits and retreats: comes to shooting range (p[3] m) and shoots; when the NPC comes within 4.5 m it runs away without
/// shooting until the NPC gives up the chase or it is cornered, then turns and strikes at close range, as hard as a
/// brawler (40).
/// </summary>
internal sealed class Baiter(double[] p) : ArenaPlayerStyle(p)
{
    public override double MeleeDamage => 2 * ArenaRules.MeleeDamage;

    public override ArenaMove Decide(ArenaRound round, Rng rng)
    {
        var npc = Seen(round);
        var me = round.Player.Position;
        double d = (npc - me).Length, range = Parameters[3];
        bool cornered = Math.Max(Math.Abs(me.X), Math.Abs(me.Y)) > ArenaRules.HalfSize - 1;
        if (d < 4.5 && !cornered) return new(Speed * (-1 * Toward(round, npc) + 0.3 * (npc - me).Unit.Left).Unit, Strike(round, npc, ArenaAttack.None));
        if (d < 4.5) return new(Speed * Toward(round, npc), Strike(round, npc, ArenaAttack.None));
        var v = d > range ? Speed * Toward(round, npc) : default;
        return new(v, Fire(round, rng));
    }
}

/// <summary>Switches between two of the training styles every p[3] steps, starting with the first, with the strengths of both.</summary>
internal sealed class Mixture(double[] p, ArenaPlayerStyle first, ArenaPlayerStyle second) : ArenaPlayerStyle(p)
{
    // The player is one person: it has both styles' strengths all the time.
    public override double MeleeDamage => Math.Max(first.MeleeDamage, second.MeleeDamage);

    public override double Aim => Math.Max(first.Aim, second.Aim);

    protected internal override void OnRoundStart(ArenaRound round)
    {
        first.OnRoundStart(round);
        second.OnRoundStart(round);
    }

    public override ArenaMove Decide(ArenaRound round, Rng rng) => (round.Step / (int)Parameters[3] % 2 == 0 ? first : second).Decide(round, rng);
}

/// <summary>
/// Where the held-out players' common parameters (speed, aggression, reaction time) lie against the training players'.
/// <see cref="Between"/>: a band inside the training envelope on every axis, never trained on (as held-out goals and
/// velocities are in the meta-RL literature); <see cref="Beyond"/>: past the training ranges, faster, less aggressive and
/// slower to react than any training player (an extrapolation).
/// </summary>
public enum ArenaParameterSplit { Between = 0, Beyond = 1 }

/// <summary>A style of the scripted player: its name, what it does, whether it is held out of training, its parameters' draw and its controller.</summary>
/// <param name="DrawWith">Draws a player's parameters: from the unseen ranges or the training ones, of a split.</param>
public sealed record ArenaStyle(string Name, string Description, bool HeldOut, Func<Rng, bool, ArenaParameterSplit, double[]> DrawWith, Func<double[], ArenaPlayerStyle> Create)
{
    /// <summary>A player's parameters: speed, aggression, reaction time, then the style's own; from the unseen ranges of <paramref name="split"/> or from its training ranges.</summary>
    public double[] Draw(Rng rng, bool unseen, ArenaParameterSplit split = ArenaParameterSplit.Between) => DrawWith(rng, unseen, split);
}

/// <summary>The player styles of <c>arena</c>.</summary>
public static class ArenaStyles
{
    // Common parameters (speed m/s, aggression, reaction steps). Between: training players move at 3.2–3.6 or 4.0–4.4 m/s,
    // take 30–50 % or 70–90 % of their ready aimed shots and react in 1, 2, 5 or 6 steps; unseen ones move at 3.6–4.0
    // m/s, fire 50–70 % and react in 3 or 4 steps. Beyond: training players move at 3.2–4.0 m/s, fire 50–90 % and react
    // in 1–3 steps; unseen ones move at 4.0–4.4 m/s, fire 30–50 % and react in 4–6 steps.
    private static double[] Common(Rng r, bool unseen, ArenaParameterSplit split) => (split, unseen) switch
    {
        (ArenaParameterSplit.Between, false) => [Either(r, 3.2, 3.6, 4.0, 4.4), Either(r, 0.3, 0.5, 0.7, 0.9), (double)Pick(r, 1, 2, 5, 6)],
        (ArenaParameterSplit.Between, true) => [r.Uniform(3.6, 4.0), r.Uniform(0.5, 0.7), 3 + r.NextInt(2)],
        (ArenaParameterSplit.Beyond, false) => [r.Uniform(3.2, 4.0), r.Uniform(0.5, 0.9), 1 + r.NextInt(3)],
        (ArenaParameterSplit.Beyond, true) => [r.Uniform(4.0, 4.4), r.Uniform(0.3, 0.5), 4 + r.NextInt(3)],
        _ => throw new ArgumentOutOfRangeException(nameof(split), split, "arena: unknown parameter split."),
    };

    // Uniform on [a, b] or on [c, d] (ranges of equal width), half each.
    private static double Either(Rng r, double a, double b, double c, double d) => r.NextInt(2) == 0 ? r.Uniform(a, b) : r.Uniform(c, d);

    private static int Pick(Rng r, params int[] values) => values[r.NextInt(values.Length)];

    private static ArenaStyle Style(string name, string description, bool heldOut, Func<double[], ArenaPlayerStyle> create, Func<Rng, bool, double[]>? own = null)
        => new(name, description, heldOut, (r, u, split) => [.. Common(r, u, split), .. own?.Invoke(r, u) ?? []], create);

    private static readonly ArenaStyle[] Training =
    [
        Style("rush", "a brawler: runs straight at the NPC and strikes in melee twice as hard as it (40); never shoots", false, p => new Rusher(p)),
        Style("kite", "a marksman (its shots barely miss more at range): keeps its range (4–7 m), backs off when approached, strafes and shoots", false,
            p => new Kiter(p), (r, _) => [r.Uniform(4, 7)]),
        Style("camp", "hides behind the pillar nearest its start and shoots whenever the NPC shows", false, p => new Camper(p)),
        Style("flank", "circles the NPC at 3–5 m, shooting across its line of fire", false, p => new Flanker(p), (r, _) => [r.Uniform(3, 5), r.NextInt(2)]),
    ];

    /// <summary>Every style, training styles first; the last two are held out of training entirely.</summary>
    public static readonly IReadOnlyList<ArenaStyle> All =
    [
        .. Training,
        Style("bait", "shoots from range (6–8 m), runs from the NPC's approach and strikes as hard as a brawler once cornered", true,
            p => new Baiter(p), (r, _) => [r.Uniform(6, 8)]),
        new("mixture", "two of the training styles, switching every 3–6 s", true,
            (r, u, split) =>
            {
                int a = r.NextInt(4), b = (a + 1 + r.NextInt(3)) % 4;
                return [.. Common(r, u, split), 30 + r.NextInt(31), a, b, .. Training[a].Draw(r, u, split)[3..], .. Training[b].Draw(r, u, split)[3..]];
            },
            p =>
            {
                int a = (int)p[4], b = (int)p[5], na = OwnCount(a);
                double[] common = p[..3];
                return new Mixture(p, Training[a].Create([.. common, .. p[6..(6 + na)]]), Training[b].Create([.. common, .. p[(6 + na)..]]));
            }),
    ];

    // How many parameters of its own each training style draws.
    private static int OwnCount(int style) => Training[style].Draw(new Rng(0), false).Length - 3;

    /// <summary>The style named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No style has that name; the message lists the styles.</exception>
    public static ArenaStyle Get(string name) => All.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"no player style '{name}'; the styles are {string.Join(", ", All.Select(s => s.Name))}.");
}
