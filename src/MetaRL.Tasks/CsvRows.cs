using MetaRL.Core.Tasks;

namespace MetaRL.Tasks;

/// <summary>
/// The plain comma-separated files users hand to task families (a treatment log, price histories): a header row, then
/// data rows, blank lines ignored; a row with another number of cells than the header is refused with its line.
/// </summary>
internal static class CsvRows
{
    /// <summary>The header's cells, trimmed; null for an empty file.</summary>
    public static string[]? Header(TextReader reader) => reader.ReadLine()?.Split(',').Select(h => h.Trim()).ToArray();

    /// <summary>The data rows after the header, each with its line number in the file (the header is line 1).</summary>
    /// <exception cref="SettingException">A row does not have <paramref name="columns"/> cells; the message names <paramref name="source"/> and the line.</exception>
    public static IEnumerable<(int Line, string[] Cells)> Rows(TextReader reader, string source, int columns)
    {
        int lineNumber = 1;
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            lineNumber++;
            if (line.Trim().Length == 0) continue;
            var cells = line.Split(',');
            if (cells.Length != columns) throw new SettingException($"{source}, line {lineNumber}: {cells.Length} values for {columns} columns.");
            yield return (lineNumber, cells);
        }
    }
}
