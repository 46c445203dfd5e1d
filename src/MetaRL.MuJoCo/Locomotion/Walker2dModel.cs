namespace MetaRL.MuJoCo.Locomotion;

/// <summary>
/// Our MJCF of the planar biped walker (the two-legged extension of the hopper in the standard locomotion
/// benchmarks): a 0.4 m torso capsule and two identical legs of a 0.45 m thigh, a 0.5 m leg and a 0.2 m foot
/// (radii 0.05/0.04/0.06, density 1000), hip and knee ranges [−150°, 0°], ankles [−45°, 45°], six motors of gear
/// 100, joint damping 0.1 and armature 0.01, geom friction 0.7 except the left foot's 1.9, 2 ms RK4 physics steps.
/// </summary>
public static class Walker2dModel
{
    /// <summary>Physics steps per control step (8 ms of simulated time per action).</summary>
    public const int FrameSkip = 4;

    public const string Xml = """
        <mujoco model="metarl-walker2d">
          <compiler angle="degree" inertiafromgeom="true"/>
          <option timestep="0.002" integrator="RK4"/>
          <size nstack="100000"/>
          <default>
            <joint armature="0.01" damping="0.1" limited="true"/>
            <geom contype="1" conaffinity="0" condim="3" density="1000" friction="0.7 0.1 0.1"/>
            <motor ctrllimited="true" ctrlrange="-1 1"/>
          </default>
          <worldbody>
            <geom name="floor" type="plane" conaffinity="1" friction="0.9 0.1 0.1" size="40 40 0.1"/>
            <body name="torso" pos="0 0 1.25">
              <joint name="rootx" type="slide" axis="1 0 0" limited="false" armature="0" damping="0"/>
              <joint name="rootz" type="slide" axis="0 0 1" limited="false" armature="0" damping="0" ref="1.25"/>
              <joint name="rooty" type="hinge" axis="0 1 0" limited="false" armature="0" damping="0"/>
              <geom name="torso" type="capsule" fromto="0 0 0.2 0 0 -0.2" size="0.05"/>
              <body name="thigh" pos="0 0 -0.2">
                <joint name="thigh" type="hinge" axis="0 -1 0" range="-150 0"/>
                <geom name="thigh" type="capsule" fromto="0 0 0 0 0 -0.45" size="0.05"/>
                <body name="leg" pos="0 0 -0.45">
                  <joint name="leg" type="hinge" axis="0 -1 0" range="-150 0"/>
                  <geom name="leg" type="capsule" fromto="0 0 0 0 0 -0.5" size="0.04"/>
                  <body name="foot" pos="0 0 -0.5">
                    <joint name="foot" type="hinge" axis="0 -1 0" range="-45 45"/>
                    <geom name="foot" type="capsule" fromto="0 0 0 0.2 0 0" size="0.06"/>
                  </body>
                </body>
              </body>
              <body name="thigh_left" pos="0 0 -0.2">
                <joint name="thigh_left" type="hinge" axis="0 -1 0" range="-150 0"/>
                <geom name="thigh_left" type="capsule" fromto="0 0 0 0 0 -0.45" size="0.05"/>
                <body name="leg_left" pos="0 0 -0.45">
                  <joint name="leg_left" type="hinge" axis="0 -1 0" range="-150 0"/>
                  <geom name="leg_left" type="capsule" fromto="0 0 0 0 0 -0.5" size="0.04"/>
                  <body name="foot_left" pos="0 0 -0.5">
                    <joint name="foot_left" type="hinge" axis="0 -1 0" range="-45 45"/>
                    <geom name="foot_left" type="capsule" fromto="0 0 0 0.2 0 0" size="0.06" friction="1.9 0.1 0.1"/>
                  </body>
                </body>
              </body>
            </body>
          </worldbody>
          <actuator>
            <motor name="thigh" joint="thigh" gear="100"/>
            <motor name="leg" joint="leg" gear="100"/>
            <motor name="foot" joint="foot" gear="100"/>
            <motor name="thigh_left" joint="thigh_left" gear="100"/>
            <motor name="leg_left" joint="leg_left" gear="100"/>
            <motor name="foot_left" joint="foot_left" gear="100"/>
          </actuator>
        </mujoco>
        """;
}
