using MetaRL.Engine;

namespace MetaRL.Tasks.Glucose;

/// <summary>
/// A random day of meals as simglucose draws it: six slots (breakfast, snack, lunch, snack, dinner, snack), each taken
/// with its probability, at a truncated-normal time within its window and with a normal amount, rounded to whole grams.
/// </summary>
public static class MealScenario
{
    /// <summary>A meal: the minute of the day it is announced and eaten from, and its carbohydrate (g).</summary>
    public readonly record struct Meal(int Minute, double Carbs);

    private static readonly (double Probability, double MeanHour, double StdMinutes, double FromHour, double ToHour, double Grams, double GramsStd)[] Slots =
    [
        (0.95, 7, 60, 5, 9, 45, 10),
        (0.3, 9.5, 30, 9, 10, 10, 5),
        (0.95, 12, 60, 10, 14, 70, 10),
        (0.3, 15, 30, 14, 16, 10, 5),
        (0.95, 18, 60, 16, 20, 80, 10),
        (0.3, 21.5, 30, 20, 23, 10, 5),
    ];

    /// <summary>One day's meals in time order (meals of 0 g are left out).</summary>
    public static IReadOnlyList<Meal> Day(Rng rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var meals = new List<Meal>(6);
        foreach (var s in Slots)
        {
            // Every slot draws all three numbers, taken or not, so one slot's choice never shifts another's draws.
            bool taken = rng.NextDouble() < s.Probability;
            double minute = TruncatedNormal(rng, s.MeanHour * 60, s.StdMinutes, s.FromHour * 60, s.ToHour * 60);
            double grams = Math.Max(0, Math.Round(rng.Normal(s.Grams, s.GramsStd)));
            if (taken && grams > 0) meals.Add(new Meal((int)Math.Round(minute), grams));
        }
        return meals;
    }

    private static double TruncatedNormal(Rng rng, double mean, double std, double lo, double hi)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            double v = rng.Normal(mean, std);
            if (v >= lo && v <= hi) return v;
        }
        return Math.Clamp(mean, lo, hi);
    }
}
