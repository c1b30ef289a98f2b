using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace BotService.IntegrationTests.Storage;

/// <summary>
/// <see cref="RowInserter{T}"/> with the answer log's columns (<see cref="AnswerRows"/>) stores what EF Core's own <c>SaveChanges</c> stores, on the
/// provider of the pass: rows read back through EF Core compare equal field by field, including what only a value
/// converter gets right (SQLite's DateTimeOffset as binary ticks, ordered and compared in queries), nulls, and text
/// that would break naive SQL.
/// </summary>
public sealed class RowInserterTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("botservice-rows-").FullName;

    [Fact]
    public async Task Insert_ManyRows_ReadBackByEfCoreAsSaveChangesWouldHaveStoredThem()
    {
        // Arrange: a migrated database; one row saved by EF Core, 150 to insert (more than two statements' worth)
        var options = TestStorage.ContextOptions(_root);
        await using (var db = new BotDbContext(options))
        {
            StorageSetup.Migrate(db, TestStorage.Target(_root));
            db.Answers.Add(Record(-1));
            await db.SaveChangesAsync();
        }

        var rows = Enumerable.Range(0, 150).Select(Record).ToList();

        // Act
        await using (var db = new BotDbContext(options))
        {
            await InsertAsync(db, rows);
        }

        // Assert: every field round-trips, keys are the database's own, and queries on the converted column work
        await using (var db = new BotDbContext(options))
        {
            var stored = await db.Answers.AsNoTracking().OrderBy(a => a.Id).ToListAsync();
            Assert.Equal(151, stored.Count);
            Assert.Equal(stored.Count, stored.Select(a => a.Id).Distinct().Count());
            foreach (var (expected, actual) in rows.Zip(stored.Skip(1)))
            {
                Assert.Equal(expected.AnswerId, actual.AnswerId);
                Assert.Equal(expected.ConversationId, actual.ConversationId);
                Assert.Equal(expected.Channel, actual.Channel);
                Assert.Equal(expected.QuestionActivityId, actual.QuestionActivityId);
                Assert.Equal(expected.ReplyActivityId, actual.ReplyActivityId);
                Assert.Equal(expected.Question, actual.Question);
                Assert.Equal(expected.Answered, actual.Answered);
                Assert.Equal(expected.Confidence, actual.Confidence);
                Assert.Equal(expected.SourcePath, actual.SourcePath);
                Assert.Equal(expected.SourceSection, actual.SourceSection);
                Assert.Equal(expected.CreatedAt, actual.CreatedAt);
                Assert.Null(actual.Vote);
                Assert.Null(actual.HandledAt);
            }

            var since = Start.AddMinutes(100);
            Assert.Equal(50, await db.Answers.CountAsync(a => a.CreatedAt >= since)); // rows 100..149
            Assert.Equal("it's 'quoted'; DROP TABLE answers; -- 7", (await db.Answers.SingleAsync(a => a.AnswerId == Id(7))).Question);
        }
    }

    [Fact]
    public async Task Insert_ADuplicateInTheBatch_StoresNoneOfIt()
    {
        // Arrange
        var options = TestStorage.ContextOptions(_root);
        await using (var db = new BotDbContext(options))
        {
            StorageSetup.Migrate(db, TestStorage.Target(_root));
        }

        var rows = Enumerable.Range(0, 100).Select(Record).Append(Record(3)).ToList(); // answer ids are unique

        // Act
        await using (var db = new BotDbContext(options))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => InsertAsync(db, rows));
        }

        // Assert: one transaction: the 100 rows before the duplicate were rolled back with it
        await using (var db = new BotDbContext(options))
        {
            Assert.Equal(0, await db.Answers.CountAsync());
        }
    }

    /// <summary>
    /// The answer log's hand-written column list (decision 0031) is the model's: every column but the generated key,
    /// under the model's names. A property added to <see cref="AnswerRecord"/> and migrated, but not added to
    /// <see cref="AnswerRows"/>, fails here.
    /// </summary>
    [Fact]
    public void AnswerRows_WriteEveryColumnOfTheModelButTheGeneratedKey()
    {
        using var db = new BotDbContext(TestStorage.ContextOptions(_root));
        var entity = db.Model.FindEntityType(typeof(AnswerRecord))!;
        var table = Microsoft.EntityFrameworkCore.Metadata.StoreObjectIdentifier.Table(entity.GetTableName()!);
        var modelColumns = entity.GetProperties()
            .Where(p => (p.ValueGenerated & Microsoft.EntityFrameworkCore.Metadata.ValueGenerated.OnAdd) == 0)
            .Select(p => p.GetColumnName(table)!)
            .Order(StringComparer.Ordinal);

        var inserter = AnswerRows.Inserter(TestStorage.Target(_root));

        Assert.Equal("answers", entity.GetTableName());
        Assert.Equal(modelColumns, inserter.Columns.Order(StringComparer.Ordinal));
    }

    /// <summary>As the transcript's writer calls it: on an open connection, in a transaction, then committed.</summary>
    private async Task InsertAsync(BotDbContext db, IReadOnlyList<AnswerRecord> rows)
    {
        await db.Database.OpenConnectionAsync();
        await using var transaction = await db.Database.BeginTransactionAsync();
        AnswerRows.Inserter(TestStorage.Target(_root)).Insert(db.Database.GetDbConnection(), transaction.GetDbTransaction(), rows);
        await transaction.CommitAsync();
    }

    private static readonly DateTimeOffset Start = new(2026, 11, 24, 3, 0, 0, TimeSpan.Zero);

    private static string Id(int i) => $"answer-{i + 100:D4}-aaaaaaaaaaa";

    private static AnswerRecord Record(int i) => new()
    {
        AnswerId = Id(i),
        ConversationId = "conversation-" + (i % 7),
        Channel = i % 2 == 0 ? "directline" : "msteams",
        QuestionActivityId = i % 3 == 0 ? null : "q" + i,
        ReplyActivityId = i % 5 == 0 ? null : "r" + i,
        Question = $"it's 'quoted'; DROP TABLE answers; -- {i}",
        Answered = i % 4 != 0,
        Confidence = i / 151.0,
        SourcePath = i % 4 == 0 ? null : "pricing/infusions.md",
        SourceSection = i % 4 == 0 ? null : "Cost — “per infusion”",
        CreatedAt = Start.AddMinutes(i).AddMilliseconds(i * 7), // both providers keep milliseconds (SQLite's converter: 0.1 ms)
    };

    public void Dispose()
    {
        TestStorage.ClearPools();
        TestStorage.DropUnder(_root);
        Directory.Delete(_root, recursive: true);
    }
}
