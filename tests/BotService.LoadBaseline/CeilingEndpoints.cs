using System.Text.Json;
using System.Threading.Channels;
using BotService.Protocol.Schema;
using Microsoft.Data.Sqlite;

namespace BotService.LoadBaseline;

/// <summary>
/// Two more ceilings for <c>tests/load/messages-wrk.sh</c>, between the fixed body and the service: what the wire
/// format alone costs, and what the wire format plus a durable write of the turn costs, with no bot at all. They say
/// how much of the gap between the service and the fixed body the bot's own work could ever close.
/// <list type="bullet">
/// <item><c>POST /api/messages/json</c>: reads the request as an <see cref="Activity"/> with the service's own
/// serializer context, addresses the captured reply to it (new id, replyToId, conversation, from and recipient
/// swapped, a fresh timestamp) and writes it back as <see cref="ExpectedReplies"/>.</item>
/// <item><c>POST /api/messages/stored</c>: the same, and before answering waits until the visitor's message and the
/// reply are committed to a SQLite file (WAL, <c>synchronous=FULL</c>, as the service's transcript by default) by a
/// single writer thread that commits whatever is queued in one transaction (a group commit, as the service's
/// transcript writer does) with one prepared insert.</item>
/// </list>
/// Neither runs safety, answering, authentication or any middleware; the stored one keeps no answer record and one
/// index where the service keeps several. So each is an upper bound for a service that must do at least that much.
/// </summary>
internal static class CeilingEndpoints
{
    public static void Map(WebApplication app, byte[] reply, string databasePath)
    {
        var canned = JsonSerializer.Deserialize(reply, ProtocolJsonContext.Default.ExpectedReplies)?.Activities.FirstOrDefault()
            ?? throw new InvalidOperationException("The reply body holds no activity.");
        var writer = new GroupCommitWriter(databasePath);
        app.Lifetime.ApplicationStopping.Register(writer.Complete);

        app.MapPost("/api/messages/json", async (HttpContext http) =>
        {
            var (_, answer) = await ReadAndAddressAsync(http, canned);
            await WriteAsync(http, answer);
        });

        app.MapPost("/api/messages/stored", async (HttpContext http) =>
        {
            var (message, answer) = await ReadAndAddressAsync(http, canned);
            await writer.WriteAsync(message, answer);
            await WriteAsync(http, answer);
        });
    }

    private static async Task<(Activity Message, Activity Reply)> ReadAndAddressAsync(HttpContext http, Activity canned)
    {
        var message = await JsonSerializer.DeserializeAsync(http.Request.Body, ProtocolJsonContext.Inbound.Activity, http.RequestAborted)
            ?? throw new BadHttpRequestException("not an activity");
        var reply = canned with
        {
            Id = Guid.NewGuid().ToString("N"),
            Timestamp = DateTimeOffset.UtcNow,
            ReplyToId = message.Id,
            Conversation = message.Conversation,
            From = message.Recipient,
            Recipient = message.From,
        };
        return (message, reply);
    }

    private static Task WriteAsync(HttpContext http, Activity reply)
    {
        http.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(http.Response.Body, new ExpectedReplies([reply]), ProtocolJsonContext.Default.ExpectedReplies, http.RequestAborted);
    }

    /// <summary>One writer thread; each wake-up commits everything queued in one transaction, then completes it all.</summary>
    private sealed class GroupCommitWriter
    {
        private readonly Channel<(Activity Message, Activity Reply, TaskCompletionSource Done)> _queue =
            Channel.CreateUnbounded<(Activity, Activity, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = true });

        private readonly SqliteConnection _connection;

        public GroupCommitWriter(string path)
        {
            _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            _connection.Open();
            using (var setup = _connection.CreateCommand())
            {
                setup.CommandText = """
                    PRAGMA journal_mode = WAL;
                    PRAGMA synchronous = FULL;
                    CREATE TABLE IF NOT EXISTS messages (
                        Seq INTEGER PRIMARY KEY, ConversationId TEXT NOT NULL, ActivityId TEXT NOT NULL,
                        Role TEXT NOT NULL, Text TEXT, CreatedAt INTEGER NOT NULL);
                    CREATE UNIQUE INDEX IF NOT EXISTS IX_messages_activity ON messages (ConversationId, ActivityId);
                    """;
                setup.ExecuteNonQuery();
            }

            new Thread(Run) { IsBackground = true, Name = "ceiling writer" }.Start();
        }

        public Task WriteAsync(Activity message, Activity reply)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_queue.Writer.TryWrite((message, reply, done)))
            {
                done.SetException(new InvalidOperationException("The writer has stopped."));
            }

            return done.Task;
        }

        public void Complete() => _queue.Writer.TryComplete();

        private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);

        /// <summary>
        /// Blocks until something is queued (true) or the queue is completed (false) without spinning, as the service's
        /// transcript writer waits (<c>TranscriptStore.WaitForWork</c>): on two cores a spinning wait takes turns from
        /// the requests it waits for.
        /// </summary>
        private bool WaitForWork()
        {
            var wait = _queue.Reader.WaitToReadAsync();
            if (!wait.IsCompleted)
            {
                _wake.Reset();
                var awaiter = wait.GetAwaiter();
                awaiter.UnsafeOnCompleted(_wake.Set);
                _wake.Wait();
                return awaiter.GetResult();
            }

            return wait.Result;
        }

        private void Run()
        {
            using var insert = _connection.CreateCommand();
            insert.CommandText = "INSERT INTO messages (ConversationId, ActivityId, Role, Text, CreatedAt) VALUES ($c, $a, $r, $t, $at)";
            var conversation = insert.Parameters.Add("$c", SqliteType.Text);
            var activity = insert.Parameters.Add("$a", SqliteType.Text);
            var role = insert.Parameters.Add("$r", SqliteType.Text);
            var text = insert.Parameters.Add("$t", SqliteType.Text);
            var at = insert.Parameters.Add("$at", SqliteType.Integer);
            insert.Prepare();

            var batch = new List<(Activity Message, Activity Reply, TaskCompletionSource Done)>();
            while (WaitForWork())
            {
                batch.Clear();
                while (_queue.Reader.TryRead(out var item))
                {
                    batch.Add(item);
                }

                try
                {
                    using (var transaction = _connection.BeginTransaction())
                    {
                        insert.Transaction = transaction;
                        foreach (var (message, reply, _) in batch)
                        {
                            Insert(message, "visitor", Guid.NewGuid().ToString("N")); // every request is the same activity: each row its own id
                            Insert(reply, "bot", reply.Id!);
                        }

                        transaction.Commit();
                    }

                    batch.ForEach(item => item.Done.SetResult());
                }
                catch (Exception e) when (e is SqliteException or InvalidOperationException)
                {
                    batch.ForEach(item => item.Done.SetException(e));
                }
            }

            void Insert(Activity a, string who, string id)
            {
                conversation.Value = a.Conversation?.Id ?? "";
                activity.Value = id;
                role.Value = who;
                text.Value = (object?)a.Text ?? DBNull.Value;
                at.Value = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                insert.ExecuteNonQuery();
            }
        }
    }
}
