namespace MetaRL.Algorithms.Common;

/// <summary>Training stopped because a loss or gradient became NaN or infinite (any meta-learner).</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
