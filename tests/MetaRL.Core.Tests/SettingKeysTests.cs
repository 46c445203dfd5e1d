using MetaRL.Core.Tasks;

namespace MetaRL.Core.Tests;

public class SettingKeysTests
{
    [Theory]
    [InlineData("itrations", "iterations")]     // a letter dropped
    [InlineData("iteratoins", "iterations")]    // two letters swapped
    [InlineData("hiddne", "hidden")]
    [InlineData("epsiodes", "episodes")]
    public void A_slip_is_matched_to_the_nearest_key(string typed, string meant)
        => Assert.Equal(meant, SettingKeys.Nearest(typed, ["iterations", "hidden", "episodes", "arms"]));

    [Fact]
    public void A_key_far_from_every_valid_one_gets_no_suggestion()
        => Assert.Null(SettingKeys.Nearest("learning-rate", ["iterations", "hidden", "arms"]));

    [Fact]
    public void A_slip_is_refused_with_its_suggestion_and_any_other_unknown_key_with_every_owners_keys()
    {
        (string, IReadOnlyCollection<string>)[] owners = [("rl2", ["iterations", "hidden"]), ("task bandit", ["arms", "episodes"])];
        var slip = Assert.Throws<SettingException>(() => SettingKeys.RefuseUnknown(["arms", "itrations"], owners));
        Assert.Equal("unknown setting 'itrations' (did you mean 'iterations'?).", slip.Message);
        var far = Assert.Throws<SettingException>(() => SettingKeys.RefuseUnknown(["itrations", "learning-rate"], owners));
        Assert.Equal("unknown settings 'itrations' (did you mean 'iterations'?), 'learning-rate'; valid keys are rl2: hidden, iterations; task bandit: arms, episodes.", far.Message);
        SettingKeys.RefuseUnknown(["arms", "hidden"], owners);
    }

    [Fact]
    public void A_task_family_refuses_its_unknown_keys_with_a_suggestion()
    {
        var e = Assert.Throws<SettingException>(() => TaskRegistry.Create("core-test-coin", new Dictionary<string, string> { ["horizn"] = "6" }));
        Assert.Contains("'horizn' (did you mean 'horizon'?)", e.Message);
    }

    [Fact]
    public void An_integer_too_large_for_its_type_is_out_of_range_not_malformed()
    {
        // Before: "setting 'iterations' must be an integer, got '99999999999'".
        var big = Assert.Throws<SettingException>(() => new SettingsReader("rl2", new Dictionary<string, string> { ["iterations"] = "99999999999" }).Int("iterations", 1, 1, 10_000_000));
        Assert.Equal("rl2: setting 'iterations' must be in [1, 10000000], got 99999999999.", big.Message);
        var text = Assert.Throws<SettingException>(() => new SettingsReader("rl2", new Dictionary<string, string> { ["iterations"] = "many" }).Int("iterations", 1, 1, 10));
        Assert.Equal("rl2: setting 'iterations' must be an integer, got 'many'.", text.Message);
    }
}
