// The engine in forty lines: build a network, train it with Adam, take a gradient of a gradient, save and reload.
// Run: dotnet run -c Release --project examples/EngineQuickstart
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Engine.Nn;
using MetaRL.Engine.Optim;

var rng = new Rng(seed: 42);
var net = new Mlp<float>([1, 32, 32, 1], rng, Activation.Tanh);
var opt = new Adam<float>(net.Parameters(), learningRate: 3e-3);

// Fit y = sin(2x) on [-2, 2].
var x = Tensor.RandU<float>(rng, -2, 2, 256, 1);
var y = Tensor.FromArray(x.ToArray().Select(v => MathF.Sin(2 * v)).ToArray(), 256, 1);
for (int step = 1; step <= 2000; step++)
{
    var loss = Ops.Mean(Ops.Square(net.Forward(x) - y));
    opt.ZeroGrad();
    loss.Backward();
    GradClip.ClipGlobalNorm(net.Parameters(), maxNorm: 1.0);
    opt.Step();
    if (step % 500 == 0) Console.WriteLine($"step {step,4}: mse {loss.ToScalar():F5}");
}

// Gradients are differentiable: d²/dx² of the network's output at x = 0.5, by double backward.
var probe = Tensor.Parameter(Tensor.From<float>([0.5], 1, 1));
var dydx = Autograd.Grad([Ops.Sum(net.Forward(probe))], [probe], createGraph: true)[0]!;
var d2ydx2 = Autograd.Grad([Ops.Sum(dydx)], [probe])[0]!;
Console.WriteLine($"at x=0.5: f'={dydx.ToScalar():F3} (sin(2x)' = {2 * Math.Cos(1):F3}), f''={d2ydx2.ToScalar():F3} (sin(2x)'' = {-4 * Math.Sin(1):F3})");

// Parameters save atomically with a checksum and load into a network of the same shape.
var path = Path.Combine(Path.GetTempPath(), "engine-quickstart.mrla");
net.Save(path);
var copy = new Mlp<float>([1, 32, 32, 1], new Rng(0), Activation.Tanh);
copy.Load(path);
Console.WriteLine($"reloaded from {path}: mse {Ops.Mean(Ops.Square(copy.Forward(x) - y)).ToScalar():F5}");

