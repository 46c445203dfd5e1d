using MetaRL.Engine;
using MetaRL.Engine.IO;
using MetaRL.Engine.Nn;

namespace MetaRL.Engine.Tests;

public sealed class SerializationTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-tests-" + Guid.NewGuid().ToString("N"));

    public SerializationTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public void Module_round_trips_bit_exactly_with_metadata()
    {
        var a = new Mlp<float>([3, 16, 2], new Rng(1));
        var archive = new TensorArchive();
        archive.Metadata["algo"] = "rl2";
        a.AddTo(archive, "policy.");
        archive.Add("extra", Tensor.From<double>([1.5, -2.5], 2));
        archive.Save(PathOf("a.mrla"));

        var loaded = TensorArchive.Load(PathOf("a.mrla"));
        Assert.Equal("rl2", loaded.Metadata["algo"]);
        var b = new Mlp<float>([3, 16, 2], new Rng(99));
        b.LoadFrom(loaded, "policy.");
        foreach (var ((_, pa), (_, pb)) in a.NamedParameters().Zip(b.NamedParameters()))
            Assert.Equal(pa.ToArray(), pb.ToArray());
        Assert.Equal([1.5, -2.5], loaded.Get<double>("extra").ToArray());
        Assert.Equal([1.5f, -2.5f], loaded.Get<float>("extra").ToArray()); // precision conversion on read
        // The checksum read is the file's last 32 bytes; an archive built in memory has none yet.
        Assert.Null(archive.Checksum);
        Assert.Equal(Convert.ToHexStringLower(File.ReadAllBytes(PathOf("a.mrla"))[^32..]), loaded.Checksum);
    }

    [Fact]
    public void Truncated_file_is_refused_with_a_clear_error()
    {
        var m = new Linear<float>(4, 4, new Rng(1));
        m.Save(PathOf("m.mrla"));
        var bytes = File.ReadAllBytes(PathOf("m.mrla"));
        foreach (int keep in new[] { 0, 3, 10, bytes.Length / 2, bytes.Length - 1 })
        {
            File.WriteAllBytes(PathOf("t.mrla"), bytes[..keep]);
            var ex = Assert.Throws<CheckpointException>(() => TensorArchive.Load(PathOf("t.mrla")));
            Assert.Contains("t.mrla", ex.Message);
        }
    }

    [Fact]
    public void Any_flipped_byte_is_detected()
    {
        var m = new Linear<float>(3, 2, new Rng(1));
        m.Save(PathOf("m.mrla"));
        var bytes = File.ReadAllBytes(PathOf("m.mrla"));
        for (int i = 0; i < bytes.Length; i += 7)
        {
            var copy = (byte[])bytes.Clone();
            copy[i] ^= 0x10;
            Assert.Throws<CheckpointException>(() => TensorArchive.Parse(copy));
        }
    }

    [Fact]
    public void Wrong_version_is_named()
    {
        var m = new Linear<float>(3, 2, new Rng(1));
        m.Save(PathOf("m.mrla"));
        var bytes = File.ReadAllBytes(PathOf("m.mrla"));
        bytes[4] = 9;
        var ex = Assert.Throws<CheckpointException>(() => TensorArchive.Parse(bytes, "x"));
        Assert.Contains("version 9", ex.Message);
    }

    [Fact]
    public void Mismatched_architecture_leaves_the_module_unchanged()
    {
        new Mlp<float>([3, 8, 2], new Rng(1)).Save(PathOf("small.mrla"));
        var target = new Mlp<float>([3, 16, 2], new Rng(2));
        var before = target.Parameters().Select(p => p.ToArray()).ToArray();
        var ex = Assert.Throws<CheckpointException>(() => target.Load(PathOf("small.mrla")));
        Assert.Contains("[3, 8]", ex.Message);
        Assert.Contains("[3, 16]", ex.Message);
        var after = target.Parameters().Select(p => p.ToArray()).ToArray();
        for (int i = 0; i < before.Length; i++) Assert.Equal(before[i], after[i]);
    }

    [Fact]
    public void Save_over_an_existing_file_is_atomic_and_leaves_no_temporaries()
    {
        var path = PathOf("ckpt.mrla");
        new Linear<float>(2, 2, new Rng(1)).Save(path);
        var second = new Linear<float>(2, 2, new Rng(2));
        second.Save(path);
        var check = new Linear<float>(2, 2, new Rng(3));
        check.Load(path);
        Assert.Equal(second.Weight.ToArray(), check.Weight.ToArray());
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Missing_file_is_a_checkpoint_error()
    {
        var ex = Assert.Throws<CheckpointException>(() => TensorArchive.Load(PathOf("nope.mrla")));
        Assert.Contains("nope.mrla", ex.Message);
    }
}
