namespace MetaRL.MuJoCo.Manipulation;

/// <summary>
/// Our MJCF of a three-link arm moving in the vertical x–z plane under gravity, carrying a payload sphere at its
/// tip: links of 0.35, 0.3 and 0.15 m (capsules of radius 0.03, density 1000), shoulder unlimited, elbow ±150°,
/// wrist ±120°, motors of gear 30, 20 and 10 N·m, joint damping 0.5 N·m·s/rad, 5 ms physics steps. At q = 0 the
/// arm hangs straight down from the shoulder at the origin. The payload (nominal 1 kg, radius 0.04 m) is the body
/// whose mass a task changes. Nothing collides.
/// </summary>
public static class ArmModel
{
    /// <summary>Physics steps per control step (25 ms of simulated time per action).</summary>
    public const int FrameSkip = 5;

    public const double NominalPayloadMass = 1.0, Reach = 0.8;

    public const string Xml = """
        <mujoco model="metarl-payload-arm">
          <compiler angle="degree" inertiafromgeom="true"/>
          <option timestep="0.005" gravity="0 0 -9.81"/>
          <size nstack="50000"/>
          <default>
            <joint type="hinge" axis="0 1 0" damping="0.5" armature="0.01"/>
            <geom type="capsule" contype="0" conaffinity="0" density="1000" size="0.03"/>
            <motor ctrllimited="true" ctrlrange="-1 1"/>
          </default>
          <worldbody>
            <body name="upper" pos="0 0 0">
              <joint name="shoulder" limited="false"/>
              <geom name="upper" fromto="0 0 0 0 0 -0.35"/>
              <body name="fore" pos="0 0 -0.35">
                <joint name="elbow" limited="true" range="-150 150"/>
                <geom name="fore" fromto="0 0 0 0 0 -0.3"/>
                <body name="hand" pos="0 0 -0.3">
                  <joint name="wrist" limited="true" range="-120 120"/>
                  <geom name="hand" fromto="0 0 0 0 0 -0.15"/>
                  <body name="payload" pos="0 0 -0.15">
                    <geom name="payload" type="sphere" size="0.04" mass="1"/>
                  </body>
                </body>
              </body>
            </body>
          </worldbody>
          <actuator>
            <motor name="shoulder" joint="shoulder" gear="30"/>
            <motor name="elbow" joint="elbow" gear="20"/>
            <motor name="wrist" joint="wrist" gear="10"/>
          </actuator>
        </mujoco>
        """;
}
