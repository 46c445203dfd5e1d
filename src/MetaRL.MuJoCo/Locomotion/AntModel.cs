namespace MetaRL.MuJoCo.Locomotion;

/// <summary>
/// Our MJCF of the quadruped ant (Schulman et al. 2016, the morphology of the standard locomotion benchmarks): a
/// torso sphere of radius 0.25 m with four legs at 45°, each a 0.28 m hip link, a 0.28 m thigh and a 0.57 m shin
/// (capsules of radius 0.08, density 5), hips turning ±30° about the vertical, knees bending 30°–70°, eight motors
/// of gear 150, joint damping 1 and armature 1, 0.01 s RK4 physics steps. The torso hangs on a free joint, so qpos
/// holds its position (3) and orientation quaternion (4) before the eight joint angles.
/// </summary>
public static class AntModel
{
    /// <summary>Physics steps per control step (0.05 s of simulated time per action).</summary>
    public const int FrameSkip = 5;

    public const string Xml = """
        <mujoco model="metarl-ant">
          <compiler angle="degree" inertiafromgeom="true"/>
          <option timestep="0.01" integrator="RK4"/>
          <size nstack="200000"/>
          <default>
            <joint armature="1" damping="1" limited="true"/>
            <geom condim="3" density="5" friction="1 0.5 0.5" margin="0.01"/>
            <motor ctrllimited="true" ctrlrange="-1 1"/>
          </default>
          <worldbody>
            <geom name="floor" type="plane" conaffinity="1" condim="3" size="40 40 40"/>
            <body name="torso" pos="0 0 0.75">
              <freejoint name="root"/>
              <geom name="torso" type="sphere" size="0.25"/>
              <body name="front_left_hip" pos="0 0 0">
                <geom name="front_left_hip" type="capsule" fromto="0 0 0 0.2 0.2 0" size="0.08"/>
                <body name="front_left_thigh" pos="0.2 0.2 0">
                  <joint name="hip_1" type="hinge" axis="0 0 1" range="-30 30"/>
                  <geom name="front_left_thigh" type="capsule" fromto="0 0 0 0.2 0.2 0" size="0.08"/>
                  <body name="front_left_shin" pos="0.2 0.2 0">
                    <joint name="ankle_1" type="hinge" axis="-1 1 0" range="30 70"/>
                    <geom name="front_left_shin" type="capsule" fromto="0 0 0 0.4 0.4 0" size="0.08"/>
                  </body>
                </body>
              </body>
              <body name="front_right_hip" pos="0 0 0">
                <geom name="front_right_hip" type="capsule" fromto="0 0 0 -0.2 0.2 0" size="0.08"/>
                <body name="front_right_thigh" pos="-0.2 0.2 0">
                  <joint name="hip_2" type="hinge" axis="0 0 1" range="-30 30"/>
                  <geom name="front_right_thigh" type="capsule" fromto="0 0 0 -0.2 0.2 0" size="0.08"/>
                  <body name="front_right_shin" pos="-0.2 0.2 0">
                    <joint name="ankle_2" type="hinge" axis="1 1 0" range="-70 -30"/>
                    <geom name="front_right_shin" type="capsule" fromto="0 0 0 -0.4 0.4 0" size="0.08"/>
                  </body>
                </body>
              </body>
              <body name="back_left_hip" pos="0 0 0">
                <geom name="back_left_hip" type="capsule" fromto="0 0 0 -0.2 -0.2 0" size="0.08"/>
                <body name="back_left_thigh" pos="-0.2 -0.2 0">
                  <joint name="hip_3" type="hinge" axis="0 0 1" range="-30 30"/>
                  <geom name="back_left_thigh" type="capsule" fromto="0 0 0 -0.2 -0.2 0" size="0.08"/>
                  <body name="back_left_shin" pos="-0.2 -0.2 0">
                    <joint name="ankle_3" type="hinge" axis="-1 1 0" range="-70 -30"/>
                    <geom name="back_left_shin" type="capsule" fromto="0 0 0 -0.4 -0.4 0" size="0.08"/>
                  </body>
                </body>
              </body>
              <body name="back_right_hip" pos="0 0 0">
                <geom name="back_right_hip" type="capsule" fromto="0 0 0 0.2 -0.2 0" size="0.08"/>
                <body name="back_right_thigh" pos="0.2 -0.2 0">
                  <joint name="hip_4" type="hinge" axis="0 0 1" range="-30 30"/>
                  <geom name="back_right_thigh" type="capsule" fromto="0 0 0 0.2 -0.2 0" size="0.08"/>
                  <body name="back_right_shin" pos="0.2 -0.2 0">
                    <joint name="ankle_4" type="hinge" axis="1 1 0" range="30 70"/>
                    <geom name="back_right_shin" type="capsule" fromto="0 0 0 0.4 -0.4 0" size="0.08"/>
                  </body>
                </body>
              </body>
            </body>
          </worldbody>
          <actuator>
            <motor name="hip_4" joint="hip_4" gear="150"/>
            <motor name="ankle_4" joint="ankle_4" gear="150"/>
            <motor name="hip_1" joint="hip_1" gear="150"/>
            <motor name="ankle_1" joint="ankle_1" gear="150"/>
            <motor name="hip_2" joint="hip_2" gear="150"/>
            <motor name="ankle_2" joint="ankle_2" gear="150"/>
            <motor name="hip_3" joint="hip_3" gear="150"/>
            <motor name="ankle_3" joint="ankle_3" gear="150"/>
          </actuator>
        </mujoco>
        """;
}
