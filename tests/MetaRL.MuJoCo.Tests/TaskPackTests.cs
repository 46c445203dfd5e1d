using MetaRL.Core.Tasks;

namespace MetaRL.MuJoCo.Tests;

public class TaskPackTests
{
    /// <summary>The MuJoCo families register themselves when the assembly is present: no application code names them.</summary>
    [Fact]
    public void The_MuJoCo_families_are_in_the_registry_beside_the_built_in_ones()
    {
        var names = TaskRegistry.Families.Select(f => f.Name).ToArray();
        foreach (var name in new[] { "cheetah-vel", "cheetah-dir", "ant-dir", "ant-goal", "arm-payload", "hopper-params", "walker-params" })
            Assert.Contains(name, names);
        if (!MuJoCo.IsAvailable)
            Assert.Contains("MuJoCo", Assert.Throws<SettingException>(() => TaskRegistry.Create("cheetah-vel")).Message);
        else
            Assert.Equal("cheetah-vel", TaskRegistry.Create("cheetah-vel").Name);
    }
}
