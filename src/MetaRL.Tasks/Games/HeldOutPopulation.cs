using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Games;

/// <summary>
/// A population of opponents split the same way in both game families: training members with training parameters;
/// held out, members never trained on (with training parameters) and training members with parameters from unseen
/// ranges: half each with <c>held-out=both</c>, or only one of the two.
/// </summary>
/// <param name="UnseenChoice">The <c>held-out</c> choice for the unseen members ("kinds", "styles").</param>
internal sealed record HeldOutPopulation<T>(T[] Training, T[] Unseen, string HeldOut, string UnseenChoice, Func<T, Rng, bool, double[]> Draw)
{
    /// <summary>A member and its parameters for <paramref name="split"/>, and whether they come from the unseen ranges.</summary>
    public (T Member, double[] Parameters, bool UnseenParameters) Sample(Rng rng, TaskSplit split)
    {
        if (split == TaskSplit.Train) return Member(rng, Training, false);
        bool unseenMember = HeldOut == UnseenChoice || (HeldOut != "parameters" && rng.NextInt(2) == 0);
        return unseenMember ? Member(rng, Unseen, false) : Member(rng, Training, true);
    }

    private (T, double[], bool) Member(Rng rng, T[] from, bool unseenParameters)
    {
        var member = from[rng.NextInt(from.Length)];
        return (member, Draw(member, rng, unseenParameters), unseenParameters);
    }

    /// <summary>A held-out task's group: the member's name, marked as never trained on or as having unseen parameters.</summary>
    public static string Group(string name, bool heldOutMember, string unseenLabel, bool unseenParameters)
        => heldOutMember ? $"{name} ({unseenLabel})" : unseenParameters ? $"{name} (unseen parameters)" : name;
}
