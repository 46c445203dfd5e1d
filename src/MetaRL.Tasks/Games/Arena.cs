using MetaRL.Engine;

namespace MetaRL.Tasks.Games;

/// <summary>A 2-D vector in metres (or metres per second).</summary>
public readonly record struct Vec(double X, double Y)
{
    public static Vec operator +(Vec a, Vec b) => new(a.X + b.X, a.Y + b.Y);
    public static Vec operator -(Vec a, Vec b) => new(a.X - b.X, a.Y - b.Y);
    public static Vec operator *(double k, Vec a) => new(k * a.X, k * a.Y);

    public double Length => Math.Sqrt(X * X + Y * Y);

    /// <summary>The unit vector along this one (zero for zero).</summary>
    public Vec Unit => Length is > 1e-9 and var l ? new(X / l, Y / l) : default;

    /// <summary>This vector turned a quarter turn anticlockwise.</summary>
    public Vec Left => new(-Y, X);

    public static double Dot(Vec a, Vec b) => a.X * b.X + a.Y * b.Y;
}

/// <summary>An attack a fighter may make in a step.</summary>
public enum ArenaAttack { None = 0, Melee = 1, Shot = 2 }

/// <summary>
/// The NPC's kit for a round when the game has loadouts (<c>loadouts=true</c>), picked by its first decision of the
/// round: the kind of damage its strike and its shot do. <see cref="Standard"/>: half kinetic, half energy;
/// <see cref="Kinetic"/>: all kinetic; <see cref="Energy"/>: all energy. The weapons, their damage and the NPC's speed
/// are the same whatever the kit; what changes is how much of the damage the player's armour absorbs
/// (<see cref="ArenaGuard"/>).
/// </summary>
public enum ArenaLoadout { Standard = 0, Kinetic = 1, Energy = 2 }

/// <summary>
/// The armour of a player of the loadout game (<c>loadouts=true</c>), drawn per task and hidden from the NPC:
/// <see cref="Kinetic"/> absorbs 70 % of kinetic damage, <see cref="Energy"/> 70 % of energy damage. So a standard kit
/// does 65 % of its damage against either, a typed kit 100 % against the other armour and 30 % against its own. Only the
/// damage of a hit shows which, and only when the hit was typed: an NPC that probes with a typed kit in one round knows
/// what to bring to the next.
/// </summary>
public enum ArenaGuard { None = 0, Kinetic = 1, Energy = 2 }

/// <summary>
/// One fighter's state: where it is, how it last moved, its health, its weapons' cooldowns (steps left) and its strengths:
/// the damage of its melee strike and of its shot (0: it has no such weapon), its aim (0: a shot's chance falls with range;
/// 1: it does not), its top speed (the NPC's; a scripted player moves at its style's speed), the kinetic share of the
/// damage it does (<see cref="ArenaLoadout"/>) and the shares of kinetic and of energy damage its armour absorbs
/// (<see cref="ArenaGuard"/>).
/// </summary>
public struct Fighter
{
    public Vec Position, Velocity;
    public double Health, MeleeDamage, ShotDamage, Aim, Speed, KineticShare, KineticAbsorbed, EnergyAbsorbed;
    public int MeleeCooldown, ShotCooldown;

    /// <summary>A fighter at <paramref name="position"/> with full health and the standard loadout.</summary>
    public static Fighter Standard(Vec position)
    {
        var f = new Fighter { Position = position, Health = ArenaRules.MaxHealth };
        f.Equip(ArenaLoadout.Standard);
        return f;
    }

    /// <summary>Gives this fighter <paramref name="guard"/>'s armour (the loadout game's players).</summary>
    public void Guard(ArenaGuard guard)
        => (KineticAbsorbed, EnergyAbsorbed) = guard switch
        {
            ArenaGuard.None => (0.0, 0.0),
            ArenaGuard.Kinetic => (0.7, 0.0),
            ArenaGuard.Energy => (0.0, 0.7),
            _ => throw new ArgumentOutOfRangeException(nameof(guard), guard, "arena: unknown guard."),
        };

    /// <summary>
    /// Gives this fighter the NPC's weapons and speed (the same in every kit) and <paramref name="loadout"/>'s kind of damage.
    /// The standard kit's hits are scaled so that <paramref name="standardDamage"/> of their damage gets through either
    /// armour (<see cref="ArenaRules.StandardThrough"/>, half kinetic and half energy, leaves them as they are).
    /// </summary>
    public void Equip(ArenaLoadout loadout, double standardDamage = ArenaRules.StandardThrough)
    {
        KineticShare = loadout switch
        {
            ArenaLoadout.Standard => 0.5,
            ArenaLoadout.Kinetic => 1.0,
            ArenaLoadout.Energy => 0.0,
            _ => throw new ArgumentOutOfRangeException(nameof(loadout), loadout, "arena: unknown loadout."),
        };
        double scale = loadout == ArenaLoadout.Standard ? standardDamage / ArenaRules.StandardThrough : 1;
        (MeleeDamage, ShotDamage, Aim, Speed) = (ArenaRules.MeleeDamage * scale, ArenaRules.ShotDamage * scale, 0.0, ArenaRules.NpcSpeed);
    }

    /// <summary>The share of <paramref name="attacker"/>'s damage that gets through this fighter's armour (1 without armour).</summary>
    public readonly double Through(in Fighter attacker)
        => 1 - attacker.KineticShare * KineticAbsorbed - (1 - attacker.KineticShare) * EnergyAbsorbed;
}

/// <summary>
/// The rules of <c>arena</c>: a square room 16 m across with two round pillars that block movement and shots, two
/// fighters of 100 health at 10 decisions per second, a melee strike (1.5 m, 0.8 s cooldown; 20 damage for the NPC, a
/// player's style may hit harder) and a shot (10 m, needs a clear line, 10 damage, 0.6 s cooldown) that hits less often
/// at range (unless the shooter's aim is good) and against a target moving across the line of fire. The NPC moves at 4 m/s
/// with the standard loadout (<see cref="ArenaLoadout"/>).
/// </summary>
public static class ArenaRules
{
    public const double HalfSize = 8, FighterRadius = 0.3, Dt = 0.1, NpcSpeed = 4, MaxHealth = 100;
    public const double MeleeRange = 1.5, MeleeDamage = 20, ShotRange = 10, ShotDamage = 10;
    public const int MeleeCooldownSteps = 8, ShotCooldownSteps = 6;

    /// <summary>
    /// The share of a standard kit's damage (half kinetic, half energy) that gets through either armour of the loadout
    /// game, each absorbing 70 % of one kind: 1 − ½ · 0.7. A typed kit puts through 1 or 0.3, on average the same.
    /// </summary>
    public const double StandardThrough = 0.65;

    /// <summary>The pillars: centre and radius.</summary>
    public static readonly (Vec Centre, double Radius)[] Pillars = [(new(-3, 2.5), 1.2), (new(3, -2.5), 1.2)];

    /// <summary>
    /// Chance that a shot hits: 95 % point blank, less with distance (by 4 % a metre, less the shooter's aim) and with the
    /// target's speed across the line of fire (15 % per m/s).
    /// </summary>
    public static double HitChance(in Fighter shooter, in Fighter target)
    {
        var line = target.Position - shooter.Position;
        double distance = line.Length;
        double across = Math.Abs(Vec.Dot(target.Velocity, line.Unit.Left));
        return Math.Clamp(0.95 - 0.04 * (1 - shooter.Aim) * distance - 0.15 * across, 0.05, 0.95);
    }

    /// <summary>Whether the straight line between two points clears both pillars.</summary>
    public static bool LineOfSight(Vec a, Vec b)
    {
        foreach (var (c, r) in Pillars)
        {
            var d = b - a;
            double len2 = Vec.Dot(d, d);
            double t = len2 < 1e-12 ? 0 : Math.Clamp(Vec.Dot(c - a, d) / len2, 0, 1);
            if ((a + t * d - c).Length < r) return false;
        }
        return true;
    }

    /// <summary>Moves <paramref name="f"/> by <paramref name="velocity"/> for one step, kept inside the walls and out of the pillars.</summary>
    public static void Move(ref Fighter f, Vec velocity)
    {
        var p = f.Position + Dt * velocity;
        double lim = HalfSize - FighterRadius;
        p = new(Math.Clamp(p.X, -lim, lim), Math.Clamp(p.Y, -lim, lim));
        foreach (var (c, r) in Pillars)
        {
            var away = p - c;
            double min = r + FighterRadius;
            if (away.Length < min) p = c + min * (away.Length > 1e-9 ? away.Unit : new Vec(1, 0));
        }
        f.Velocity = (1 / Dt) * (p - f.Position);
        f.Position = p;
    }

    /// <summary>
    /// Makes <paramref name="attacker"/>'s attack on <paramref name="target"/> if its weapon is ready: a melee strike hits
    /// within reach, a shot within range along a clear line with <see cref="HitChance"/>. Returns the damage done; a
    /// weapon tried goes on cooldown whether or not it hits (a swing or shot is spent); a weapon the attacker lacks does nothing.
    /// </summary>
    public static double Attack(ref Fighter attacker, in Fighter target, ArenaAttack attack, Rng rng)
    {
        var distance = (target.Position - attacker.Position).Length;
        switch (attack)
        {
            case ArenaAttack.Melee when attacker.MeleeCooldown == 0 && attacker.MeleeDamage > 0:
                attacker.MeleeCooldown = MeleeCooldownSteps;
                return distance <= MeleeRange ? attacker.MeleeDamage * target.Through(attacker) : 0;
            case ArenaAttack.Shot when attacker.ShotCooldown == 0 && attacker.ShotDamage > 0:
                attacker.ShotCooldown = ShotCooldownSteps;
                // The chance is drawn whether or not the shot can land, so a round's random stream does not depend on the geometry.
                bool hit = rng.NextDouble() < HitChance(attacker, target);
                return hit && distance <= ShotRange && LineOfSight(attacker.Position, target.Position) ? attacker.ShotDamage * target.Through(attacker) : 0;
            default:
                return 0;
        }
    }

    /// <summary>A weapon's cooldowns run down by a step.</summary>
    public static void Cool(ref Fighter f)
    {
        if (f.MeleeCooldown > 0) f.MeleeCooldown--;
        if (f.ShotCooldown > 0) f.ShotCooldown--;
    }
}

/// <summary>
/// What a fighter decides in a step: a velocity (m/s) and an attack; the NPC's first decision of a round also picks its
/// loadout (null keeps the standard one).
/// </summary>
public readonly record struct ArenaMove(Vec Velocity, ArenaAttack Attack, ArenaLoadout? Loadout = null);

/// <summary>
/// One round of <c>arena</c>: the NPC and the player start on opposite sides of the room, each step both decide on the
/// state at its start (the player seeing the NPC as it was its reaction time ago), attacks land, then both move. The NPC's
/// first move of the round equips its loadout (<see cref="ArenaMove.Loadout"/>; a loadout later in the round is refused). The round
/// ends when a fighter falls or after <see cref="Steps"/> steps; then the one with more health left wins (equal: a draw).
/// </summary>
/// <param name="steps">The longest a round lasts, in steps.</param>
/// <param name="standardDamage">The share of the NPC's standard kit's damage that gets through the player's armour (<see cref="Fighter.Equip"/>).</param>
public sealed class ArenaRound(int steps, double standardDamage = ArenaRules.StandardThrough)
{
    private readonly Vec[] _npcTrail = new Vec[16];

    public int Steps => steps;

    /// <summary>The share of the standard kit's damage that gets through the player's armour.</summary>
    public double StandardDamage => standardDamage;
    public Fighter Npc, Player;
    public int Step { get; private set; }

    /// <summary>Damage the NPC has dealt and taken this round.</summary>
    public double Dealt { get; private set; }
    public double Taken { get; private set; }

    /// <summary>The attacks made in the last step (a weapon still cooling down makes none), and whether they hit.</summary>
    public ArenaAttack PlayerAttack { get; private set; }

    /// <summary>The NPC's loadout this round (standard until its first move picks one).</summary>
    public ArenaLoadout Loadout { get; private set; }

    public ArenaAttack NpcAttack { get; private set; }
    public bool PlayerHit { get; private set; }
    public bool NpcHit { get; private set; }

    /// <summary>
    /// The share of its weapon's damage the NPC's attack of the last step did (0 when it missed or made none): 1, 0.3 or
    /// the standard kit's share against an armoured player; the number a game shows on a hit.
    /// </summary>
    public double NpcHitShare { get; private set; }

    public bool Over => Step >= steps || Npc.Health <= 0 || Player.Health <= 0;

    /// <summary>The NPC's result: 1 a win, 0.5 a draw, 0 a loss (when <see cref="Over"/>).</summary>
    public double Outcome => Npc.Health > Player.Health ? 1 : Npc.Health < Player.Health ? 0 : 0.5;

    /// <summary>A new round: the NPC on the left, the player (with its style's strike and aim) on the right.</summary>
    public void Start(Rng rng, double playerMeleeDamage = ArenaRules.MeleeDamage, double playerAim = 0)
    {
        Npc = Fighter.Standard(new(-6, rng.Uniform(-5, 5)));
        Player = Fighter.Standard(new(6, rng.Uniform(-5, 5)));
        (Player.MeleeDamage, Player.Aim, Loadout) = (playerMeleeDamage, playerAim, ArenaLoadout.Standard);
        (Step, Dealt, Taken, PlayerAttack, NpcAttack, PlayerHit, NpcHit, NpcHitShare) = (0, 0, 0, ArenaAttack.None, ArenaAttack.None, false, false, 0);
        Array.Fill(_npcTrail, Npc.Position);
    }

    /// <summary>The NPC's position <paramref name="stepsAgo"/> steps ago (at most 15), as a slow player perceives it.</summary>
    public Vec NpcSeen(int stepsAgo) => _npcTrail[(Step - Math.Clamp(stepsAgo, 0, 15) + 16 * 2) % 16];

    /// <summary>Plays one step; returns the damage the NPC dealt minus the damage it took.</summary>
    public double Advance(ArenaMove npc, ArenaMove player, Rng rng)
    {
        if (npc.Loadout is { } loadout)
        {
            if (Step != 0) throw new InvalidOperationException("arena: the NPC picks its loadout with its first move of a round, not later.");
            Npc.Equip(loadout, standardDamage);
            Loadout = loadout;
        }
        (NpcAttack, PlayerAttack) = (Made(Npc, npc.Attack), Made(Player, player.Attack));
        double dealt = ArenaRules.Attack(ref Npc, Player, npc.Attack, rng);
        double taken = ArenaRules.Attack(ref Player, Npc, player.Attack, rng);
        (NpcHit, PlayerHit) = (dealt > 0, taken > 0);
        NpcHitShare = dealt > 0 ? dealt / (npc.Attack == ArenaAttack.Melee ? ArenaRules.MeleeDamage : ArenaRules.ShotDamage) : 0;
        dealt = Math.Min(dealt, Math.Max(Player.Health, 0));
        taken = Math.Min(taken, Math.Max(Npc.Health, 0));
        Player.Health -= dealt;
        Npc.Health -= taken;
        (Dealt, Taken) = (Dealt + dealt, Taken + taken);
        ArenaRules.Cool(ref Npc);
        ArenaRules.Cool(ref Player);
        ArenaRules.Move(ref Npc, Clamp(npc.Velocity, Npc.Speed));
        ArenaRules.Move(ref Player, player.Velocity);
        Step++;
        _npcTrail[Step % 16] = Npc.Position;
        return dealt - taken;
    }

    private static ArenaAttack Made(in Fighter f, ArenaAttack attack)
        => attack switch
        {
            ArenaAttack.Melee when f.MeleeCooldown == 0 && f.MeleeDamage > 0 => attack,
            ArenaAttack.Shot when f.ShotCooldown == 0 && f.ShotDamage > 0 => attack,
            _ => ArenaAttack.None,
        };

    private static Vec Clamp(Vec v, double max) => v.Length > max ? max * v.Unit : v;
}
