namespace MetaRL.MuJoCo.Locomotion;

/// <summary>
/// Our MJCF of the planar one-legged hopper (Erez, Tassa &amp; Todorov 2011, the morphology of the standard
/// locomotion benchmarks): a 0.4 m torso capsule above a 0.45 m thigh, a 0.5 m leg and a 0.39 m foot, capsule
/// radii 0.05/0.05/0.04/0.06, geoms of density 1000 (MuJoCo 2's capsule volumes: torso 3.67 kg, thigh 4.06, leg 2.78,
/// foot 5.32), hip and knee
/// ranges [−150°, 0°], ankle [−45°, 45°], three motors of gear 200, joint damping 1 and armature 1, foot friction 2,
/// 2 ms RK4 physics steps. The root slides in x and z and hinges about y; qpos[1] is the torso's height.
/// </summary>
public static class HopperModel
{
    /// <summary>Physics steps per control step (8 ms of simulated time per action).</summary>
    public const int FrameSkip = 4;

    public const string Xml = """
        <mujoco model="metarl-hopper">
          <compiler angle="degree" inertiafromgeom="true"/>
          <option timestep="0.002" integrator="RK4"/>
          <size nstack="100000"/>
          <default>
            <joint armature="1" damping="1" limited="true"/>
            <geom contype="1" conaffinity="1" condim="1" density="1000" friction="0.8 0.1 0.1" margin="0.001" solimp="0.8 0.8 0.01" solref="0.02 1"/>
            <motor ctrllimited="true" ctrlrange="-1 1"/>
          </default>
          <worldbody>
            <geom name="floor" type="plane" condim="3" friction="0.9 0.1 0.1" size="40 40 0.1"/>
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
                    <geom name="foot" type="capsule" fromto="-0.13 0 0 0.26 0 0" size="0.06" friction="2 0.1 0.1"/>
                  </body>
                </body>
              </body>
            </body>
          </worldbody>
          <actuator>
            <motor name="thigh" joint="thigh" gear="200"/>
            <motor name="leg" joint="leg" gear="200"/>
            <motor name="foot" joint="foot" gear="200"/>
          </actuator>
        </mujoco>
        """;
}
