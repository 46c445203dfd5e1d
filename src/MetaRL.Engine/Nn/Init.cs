using System.Numerics;

namespace MetaRL.Engine.Nn;

/// <summary>Weight initialisation schemes.</summary>
public static class Init
{
    /// <summary>
    /// A [rows, cols] matrix with orthonormal rows or columns (whichever are fewer) scaled by
    /// <paramref name="gain"/> (Saxe et al. 2014): Gram–Schmidt on a Gaussian matrix, with the signs
    /// fixed so the distribution is uniform over orthogonal matrices.
    /// </summary>
    public static Tensor<T> Orthogonal<T>(Rng rng, int rows, int cols, double gain = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int big = Math.Max(rows, cols), small = Math.Min(rows, cols);
        // small orthonormal vectors of length big.
        var q = new double[small, big];
        for (int i = 0; i < small; i++)
        {
            while (true)
            {
                for (int j = 0; j < big; j++) q[i, j] = rng.Normal();
                for (int pass = 0; pass < 2; pass++) // re-orthogonalise once for accuracy
                    for (int k = 0; k < i; k++)
                    {
                        double dot = 0;
                        for (int j = 0; j < big; j++) dot += q[i, j] * q[k, j];
                        for (int j = 0; j < big; j++) q[i, j] -= dot * q[k, j];
                    }
                double norm = 0;
                for (int j = 0; j < big; j++) norm += q[i, j] * q[i, j];
                norm = Math.Sqrt(norm);
                if (norm < 1e-8) continue; // degenerate draw: try again
                for (int j = 0; j < big; j++) q[i, j] /= norm;
                break;
            }
        }
        var t = Tensor.Zeros<T>(rows, cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                t.Data[r * cols + c] = T.CreateChecked(gain * (rows <= cols ? q[r, c] : q[c, r]));
        return t;
    }

    /// <summary>Glorot/Xavier uniform: U(±gain·√(6 / (fanIn + fanOut))).</summary>
    public static Tensor<T> XavierUniform<T>(Rng rng, int fanIn, int fanOut, double gain = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double a = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        return Tensor.RandU<T>(rng, -a, a, fanIn, fanOut);
    }

    /// <summary>Glorot/Xavier normal: N(0, gain²·2 / (fanIn + fanOut)).</summary>
    public static Tensor<T> XavierNormal<T>(Rng rng, int fanIn, int fanOut, double gain = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
        => Tensor.RandN<T>(rng, gain * Math.Sqrt(2.0 / (fanIn + fanOut)), fanIn, fanOut);

    /// <summary>PyTorch's default for linear layers: U(±1/√fanIn).</summary>
    public static Tensor<T> LecunUniform<T>(Rng rng, int fanIn, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double a = 1.0 / Math.Sqrt(Math.Max(1, fanIn));
        return Tensor.RandU<T>(rng, -a, a, shape);
    }
}

/// <summary>How a <see cref="Linear{T}"/> layer's weight is initialised.</summary>
public enum WeightInit
{
    /// <summary>U(±1/√in), bias likewise (PyTorch's default).</summary>
    Default,
    /// <summary>Orthogonal with the given gain, bias zero (common for policy-gradient networks).</summary>
    Orthogonal,
    /// <summary>Xavier uniform with the given gain, bias zero.</summary>
    XavierUniform,
}
