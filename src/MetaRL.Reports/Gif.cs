namespace MetaRL.Reports;

/// <summary>
/// An animated GIF89a writer for drawings of few colours (plots, rendered scenes): every frame shares one palette of at
/// most 255 colours, the most used ones, and the animation loops for ever. A pixel unchanged since the frame before is
/// written transparent, which the LZW coder packs into a few codes, so a scene where little moves stays small.
/// </summary>
internal static class Gif
{
    private const int Transparent = 255;
    private const int MaxCodes = 4096;

    /// <summary>Writes <paramref name="frames"/> (rows of red, green, blue bytes) with their delays in hundredths of a second.</summary>
    public static void Write(Stream stream, int width, int height, IReadOnlyList<byte[]> frames, IReadOnlyList<int> delays)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (width is < 1 or > ushort.MaxValue || height is < 1 or > ushort.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(width), $"A GIF is 1 to 65535 pixels each way, got {width} × {height}.");
        if (frames.Count == 0 || frames.Count != delays.Count) throw new ArgumentException("Give one delay per frame, and at least one frame.", nameof(delays));
        int pixels = width * height;
        foreach (var f in frames)
            if (f.Length != pixels * 3) throw new ArgumentException($"A frame of {width} × {height} has {pixels * 3} bytes, got {f.Length}.", nameof(frames));

        var (palette, lookup) = Palette(frames);
        using var w = new BinaryWriter(stream, System.Text.Encoding.ASCII, leaveOpen: true);
        w.Write("GIF89a"u8);
        w.Write((ushort)width);
        w.Write((ushort)height);
        w.Write((byte)0xF7); // a global table of 256 colours, 8 bits a channel
        w.Write((byte)0);    // background colour
        w.Write((byte)0);    // square pixels
        w.Write(palette);
        // Loop for ever (the NETSCAPE2.0 application extension).
        w.Write([0x21, 0xFF, 0x0B]);
        w.Write("NETSCAPE2.0"u8);
        w.Write([0x03, 0x01, 0x00, 0x00, 0x00]);

        var shown = new byte[pixels];
        var indices = new byte[pixels];
        for (int f = 0; f < frames.Count; f++)
        {
            var rgb = frames[f];
            for (int i = 0; i < pixels; i++)
            {
                byte index = lookup(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
                indices[i] = f > 0 && index == shown[i] ? (byte)Transparent : index;
                shown[i] = index;
            }
            // Graphic control: leave the frame in place for the next to draw over, its delay, index 255 transparent after the first.
            w.Write([0x21, 0xF9, 0x04, (byte)(1 << 2 | (f > 0 ? 1 : 0))]);
            w.Write((ushort)Math.Clamp(delays[f], 0, ushort.MaxValue));
            w.Write([(byte)Transparent, 0x00]);
            w.Write((byte)0x2C);
            w.Write((ushort)0);
            w.Write((ushort)0);
            w.Write((ushort)width);
            w.Write((ushort)height);
            w.Write((byte)0); // no local colour table, not interlaced
            w.Write((byte)8); // LZW minimum code size
            WriteBlocks(w, Lzw(indices));
        }
        w.Write((byte)0x3B);
    }

    // The palette: the 255 most used colours at 5 bits a channel, each the mean of the pixels it stands for; a lookup maps a
    // pixel to the nearest of them (computed once per 5-bit colour).
    private static (byte[] Palette, Func<byte, byte, byte, byte> Lookup) Palette(IReadOnlyList<byte[]> frames)
    {
        var count = new long[1 << 15];
        var sums = new long[(1 << 15) * 3];
        foreach (var rgb in frames)
            for (int i = 0; i < rgb.Length; i += 3)
            {
                int key = Key(rgb[i], rgb[i + 1], rgb[i + 2]);
                count[key]++;
                sums[3 * key] += rgb[i];
                sums[3 * key + 1] += rgb[i + 1];
                sums[3 * key + 2] += rgb[i + 2];
            }
        var kept = Enumerable.Range(0, count.Length).Where(k => count[k] > 0).OrderByDescending(k => count[k]).ThenBy(k => k).Take(Transparent).ToArray();
        var palette = new byte[256 * 3];
        for (int p = 0; p < kept.Length; p++)
            for (int c = 0; c < 3; c++)
                palette[3 * p + c] = (byte)Math.Round((double)sums[3 * kept[p] + c] / count[kept[p]]);
        var nearest = new short[1 << 15];
        Array.Fill(nearest, (short)-1);
        return (palette, (r, g, b) =>
        {
            int key = Key(r, g, b);
            if (nearest[key] < 0)
            {
                int best = 0, bestDistance = int.MaxValue;
                for (int p = 0; p < kept.Length; p++)
                {
                    int dr = palette[3 * p] - r, dg = palette[3 * p + 1] - g, db = palette[3 * p + 2] - b;
                    int d = dr * dr + dg * dg + db * db;
                    if (d < bestDistance) (best, bestDistance) = (p, d);
                }
                nearest[key] = (short)best;
            }
            return (byte)nearest[key];
        });
    }

    private static int Key(byte r, byte g, byte b) => (r >> 3) << 10 | (g >> 3) << 5 | b >> 3;

    /// <summary>
    /// The variable-length LZW code of 8-bit indices as GIF packs it: a clear code first, codes of 9 bits growing to 12
    /// as the table fills, a clear code and a new table when it is full, the end code last; bits least significant first.
    /// </summary>
    internal static byte[] Lzw(ReadOnlySpan<byte> indices)
    {
        const int clear = 256, end = 257;
        var output = new List<byte>(indices.Length / 4 + 16);
        int buffer = 0, bits = 0, size = 9, next = end + 1;
        void Emit(int code)
        {
            buffer |= code << bits;
            bits += size;
            while (bits >= 8)
            {
                output.Add((byte)buffer);
                buffer >>= 8;
                bits -= 8;
            }
        }
        var table = new Dictionary<int, int>();
        Emit(clear);
        if (indices.Length > 0)
        {
            int prefix = indices[0];
            for (int i = 1; i < indices.Length; i++)
            {
                int key = prefix << 8 | indices[i];
                if (table.TryGetValue(key, out int code))
                {
                    prefix = code;
                    continue;
                }
                Emit(prefix);
                if (next < MaxCodes)
                {
                    table[key] = next++;
                    // The decoder adds each entry one code later, so the width grows once the table holds one code past 2^size.
                    if (next > 1 << size && size < 12) size++;
                }
                else
                {
                    Emit(clear);
                    table.Clear();
                    (size, next) = (9, end + 1);
                }
                prefix = indices[i];
            }
            Emit(prefix);
        }
        Emit(end);
        if (bits > 0) output.Add((byte)buffer);
        return output.ToArray();
    }

    // Data sub-blocks of at most 255 bytes, ended by an empty one.
    private static void WriteBlocks(BinaryWriter w, byte[] data)
    {
        for (int at = 0; at < data.Length; at += 255)
        {
            int n = Math.Min(255, data.Length - at);
            w.Write((byte)n);
            w.Write(data, at, n);
        }
        w.Write((byte)0);
    }
}
