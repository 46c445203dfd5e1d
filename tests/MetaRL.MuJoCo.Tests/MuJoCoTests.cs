namespace MetaRL.MuJoCo.Tests;

/// <summary>A fact that is skipped, with the reason and how to install MuJoCo, where MuJoCo cannot run.</summary>
public sealed class MuJoCoFactAttribute : FactAttribute
{
    public MuJoCoFactAttribute()
    {
        if (!MuJoCo.IsAvailable) Skip = MuJoCo.UnavailableReason;
    }
}

public class MuJoCoTests
{
    private const string FallingBox = """
        <mujoco>
          <option timestep="0.01" gravity="0 0 -9.81"/>
          <worldbody>
            <body name="box" pos="0 0 10">
              <freejoint/>
              <geom type="box" size="0.1 0.1 0.1" mass="1"/>
            </body>
          </worldbody>
        </mujoco>
        """;

    private const string Pendulum = """
        <mujoco>
          <option timestep="0.005"/>
          <worldbody>
            <body name="pole" pos="0 0 1">
              <joint name="hinge" type="hinge" axis="0 1 0" damping="0.1"/>
              <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.05" mass="1"/>
            </body>
          </worldbody>
          <actuator><motor joint="hinge" gear="1" ctrlrange="-2 2" ctrllimited="true"/></actuator>
        </mujoco>
        """;

    [MuJoCoFact]
    public void The_installed_version_is_2_2_2()
    {
        Assert.Equal(222, MuJoCo.Version);
    }

    [MuJoCoFact]
    public void A_free_body_falls_as_semi_implicit_euler_says()
    {
        using var model = MjModel.FromXml(FallingBox);
        using var sim = new MjSimulation(model);
        Assert.Equal(7, model.Nq);
        Assert.Equal(6, model.Nv);
        Assert.Equal(0, model.Nu);
        const int n = 50;
        for (int i = 0; i < n; i++) sim.Step([]);
        // v_k = −g k dt, z_n = z₀ + Σ_{k=1..n} v_k dt = z₀ − g dt² n(n + 1)/2.
        double expected = 10 - 9.81 * 0.01 * 0.01 * n * (n + 1) / 2;
        Assert.Equal(expected, sim.Qpos[2], 9);
        Assert.Equal(0.5, sim.Time, 12);
        sim.Reset();
        Assert.Equal(10, sim.Qpos[2], 12);
    }

    [MuJoCoFact]
    public void Stepping_is_deterministic_and_one_model_serves_many_simulations()
    {
        using var model = MjModel.FromXml(Pendulum);
        using var a = new MjSimulation(model);
        using var b = new MjSimulation(model);
        a.Qpos[0] = b.Qpos[0] = 0.3;
        for (int t = 0; t < 200; t++)
        {
            double u = Math.Sin(t * 0.05);
            a.Step([u], 2);
            b.Step([u], 2);
        }
        Assert.Equal(a.Qpos.ToArray(), b.Qpos.ToArray());
        Assert.Equal(a.Qvel.ToArray(), b.Qvel.ToArray());
        Assert.NotEqual(0.3, a.Qpos[0]);
    }

    [MuJoCoFact]
    public void A_task_copy_changes_physics_without_touching_the_shared_model()
    {
        using var model = MjModel.FromXml(Pendulum);
        using var heavy = model.Copy();
        int pole = model.IdOf(1, "pole");
        Assert.True(pole > 0);
        heavy.DofDamping[0] = 5.0;
        Assert.Equal(0.1, model.DofDamping[0], 12);
        using var light = new MjSimulation(model);
        using var damped = new MjSimulation(heavy);
        light.Qpos[0] = damped.Qpos[0] = 1.0;
        for (int t = 0; t < 400; t++) { light.Step([0.0]); damped.Step([0.0]); }
        Assert.True(Math.Abs(damped.Qvel[0]) < Math.Abs(light.Qvel[0]) || Math.Abs(damped.Qpos[0]) < Math.Abs(light.Qpos[0]),
            $"damped {damped.Qpos[0]:F3}/{damped.Qvel[0]:F3} vs light {light.Qpos[0]:F3}/{light.Qvel[0]:F3}");
    }

    [MuJoCoFact]
    public void Errors_become_exceptions_and_write_no_log_file()
    {
        string log = Path.Combine(Environment.CurrentDirectory, "MUJOCO_LOG.TXT");
        bool existed = File.Exists(log);

        var bad = Assert.Throws<MuJoCoException>(() => MjModel.FromXml("<mujoco><worldbody><body><geom type=\"sphere\"/></body></worldbody>"));
        Assert.Contains("could not compile", bad.Message);
        var unknown = Assert.Throws<MuJoCoException>(() => MjModel.FromXml("<mujoco><worldbody><geom type=\"teapot\" size=\"1\"/></worldbody></mujoco>"));
        Assert.Contains("teapot", unknown.Message);

        // Too small a stack for the contacts: MuJoCo raises an error, which must not end the process.
        using var model = MjModel.FromXml("""
            <mujoco>
              <size nstack="300"/>
              <worldbody>
                <geom type="plane" size="5 5 0.1"/>
                <body pos="0 0 0.5"><freejoint/><geom type="box" size="0.1 0.1 0.1"/></body>
                <body pos="0.05 0 0.9"><freejoint/><geom type="box" size="0.1 0.1 0.1"/></body>
              </worldbody>
            </mujoco>
            """);
        using var sim = new MjSimulation(model);
        var overflow = Assert.Throws<MuJoCoException>(() => { for (int i = 0; i < 1000; i++) sim.Step([]); });
        Assert.Contains("MuJoCo failed during step", overflow.Message);
        Assert.Contains("stack", overflow.Message, StringComparison.OrdinalIgnoreCase);

        // A non-finite state is an instability: MuJoCo resets the state and we say so.
        using var pendulum = MjModel.FromXml(Pendulum);
        using var p = new MjSimulation(pendulum);
        p.Qvel[0] = double.NaN;
        var unstable = Assert.Throws<MuJoCoInstabilityException>(() => p.Step([0.0]));
        Assert.Contains("unstable", unstable.Message);
        p.Step([0.0]); // usable again
        Assert.True(double.IsFinite(p.Qpos[0]));

        Assert.Throws<ArgumentException>(() => p.Step([double.PositiveInfinity]));
        Assert.Throws<ArgumentException>(() => p.Step([1.0, 2.0]));
        Assert.Equal(existed, File.Exists(log));
    }
}
