namespace MetaRL.Algorithms.Maml;

/// <summary>
/// The linear feature baseline of the MAML paper (Duan et al. 2016's benchmark): a ridge regression of
/// returns on [o, o², t/100, (t/100)², (t/100)³, 1], fitted afresh for every task's trajectories.
/// </summary>
public static class LinearFeatureBaseline
{
    /// <summary>Fits on the valid steps and writes the baseline value of every step into <paramref name="values"/>.</summary>
    public static void FitPredict(float[] observations, int obsSize, float[] returns, float[] mask, int trajectories, int horizon, float[] values)
    {
        int f = 2 * obsSize + 4, n = trajectories * horizon;
        var xtx = new double[f * f];
        var xty = new double[f];
        var row = new double[f];
        for (int i = 0; i < n; i++)
        {
            if (mask[i] == 0) continue;
            Features(observations.AsSpan(i * obsSize, obsSize), i % horizon, row);
            for (int a = 0; a < f; a++)
            {
                xty[a] += row[a] * returns[i];
                for (int b = 0; b < f; b++) xtx[a * f + b] += row[a] * row[b];
            }
        }
        var w = Solve(xtx, xty, f);
        for (int i = 0; i < n; i++)
        {
            Features(observations.AsSpan(i * obsSize, obsSize), i % horizon, row);
            double v = 0;
            for (int a = 0; a < f; a++) v += row[a] * w[a];
            values[i] = mask[i] == 0 ? 0 : (float)v;
        }
    }

    private static void Features(ReadOnlySpan<float> o, int t, Span<double> row)
    {
        int k = 0;
        foreach (var x in o) row[k++] = Math.Clamp(x, -10f, 10f);
        foreach (var x in o) { double c = Math.Clamp(x, -10f, 10f); row[k++] = c * c; }
        double al = t / 100.0;
        row[k++] = al;
        row[k++] = al * al;
        row[k++] = al * al * al;
        row[k] = 1;
    }

    /// <summary>(XᵀX + λI) w = Xᵀy by Cholesky, raising λ from 1e-5 tenfold until the factorisation succeeds.</summary>
    private static double[] Solve(double[] a, double[] b, int f)
    {
        for (double reg = 1e-5; reg < 1e6; reg *= 10)
        {
            var l = new double[f * f];
            bool ok = true;
            for (int i = 0; i < f && ok; i++)
                for (int j = 0; j <= i; j++)
                {
                    double s = a[i * f + j] + (i == j ? reg : 0);
                    for (int k = 0; k < j; k++) s -= l[i * f + k] * l[j * f + k];
                    if (i == j)
                    {
                        if (!(s > 0) || !double.IsFinite(s)) { ok = false; break; }
                        l[i * f + i] = Math.Sqrt(s);
                    }
                    else l[i * f + j] = s / l[j * f + j];
                }
            if (!ok) continue;
            var y = new double[f];
            for (int i = 0; i < f; i++)
            {
                double s = b[i];
                for (int k = 0; k < i; k++) s -= l[i * f + k] * y[k];
                y[i] = s / l[i * f + i];
            }
            var w = new double[f];
            for (int i = f - 1; i >= 0; i--)
            {
                double s = y[i];
                for (int k = i + 1; k < f; k++) s -= l[k * f + i] * w[k];
                w[i] = s / l[i * f + i];
            }
            return w;
        }
        return new double[f];
    }
}
