using BotService.Storage.Staff;
using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace BotService.Storage.Data;

/// <summary>
/// The service's database: SQLite by default, or PostgreSQL (<see cref="StorageSetup"/>). The model uses only portable
/// types; the two differences are made here (times on SQLite, text lengths on PostgreSQL). It is also Identity's store
/// (staff accounts and roles), so one database and one migration history hold everything.
/// </summary>
public sealed class BotDbContext(DbContextOptions<BotDbContext> options) : IdentityDbContext(options), IDataProtectionKeyContext
{
    /// <summary>ASP.NET Core Data Protection's key ring (sign-in cookies, antiforgery tokens), shared by every instance.</summary>
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    /// <summary>Per-conversation sequence numbers, when they come from the database (PostgreSQL; decision 0017).</summary>
    public DbSet<ConversationSeqRecord> ConversationSeqs => Set<ConversationSeqRecord>();

    public DbSet<ConversationRecord> Conversations => Set<ConversationRecord>();

    public DbSet<MessageRecord> Messages => Set<MessageRecord>();

    public DbSet<EscalationRecord> Escalations => Set<EscalationRecord>();

    public DbSet<EscalationDeliveryRecord> EscalationDeliveries => Set<EscalationDeliveryRecord>();

    public DbSet<EscalationNoteRecord> EscalationNotes => Set<EscalationNoteRecord>();

    public DbSet<TeamsChannelRecord> TeamsChannels => Set<TeamsChannelRecord>();

    public DbSet<TeamsAlertRecord> TeamsAlerts => Set<TeamsAlertRecord>();

    public DbSet<TeamsOverdueAlertRecord> TeamsOverdueAlerts => Set<TeamsOverdueAlertRecord>();

    /// <summary>Answers and declines with their votes, for the staff review page (<see cref="AnswerRecord"/>).</summary>
    public DbSet<AnswerRecord> Answers => Set<AnswerRecord>();

    /// <summary>Append-only: see <see cref="AuditEventRecord"/>.</summary>
    public DbSet<AuditEventRecord> AuditEvents => Set<AuditEventRecord>();

    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        RefuseAuditChanges();
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        RefuseAuditChanges();
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    /// <summary>The audit trail is append-only; a changed or deleted row is a bug, never something to save.</summary>
    private void RefuseAuditChanges()
    {
        if (ChangeTracker.Entries<AuditEventRecord>().Any(e => e.State is EntityState.Modified or EntityState.Deleted))
        {
            throw new InvalidOperationException("audit_events is append-only: rows cannot be changed or deleted");
        }
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder); // Identity's tables (AspNetUsers, AspNetRoles, ...)
        modelBuilder.Entity<ConversationRecord>(e =>
        {
            e.ToTable("conversations");
            e.HasKey(c => c.Id);
            e.Property(c => c.Id).HasMaxLength(200);
            e.Property(c => c.Channel).HasMaxLength(50);
            e.Property(c => c.UserId).HasMaxLength(200);
        });
        modelBuilder.Entity<ConversationSeqRecord>(e =>
        {
            e.ToTable("conversation_seqs");
            e.HasKey(c => c.ConversationId);
            e.Property(c => c.ConversationId).HasMaxLength(200);
        });
        modelBuilder.Entity<DataProtectionKey>().ToTable("data_protection_keys");
        modelBuilder.Entity<MessageRecord>(e =>
        {
            e.ToTable("messages");
            e.HasKey(m => m.Id);
            e.Property(m => m.ConversationId).HasMaxLength(200);
            e.Property(m => m.ActivityId).HasMaxLength(200);
            e.Property(m => m.Role).HasMaxLength(20);
            e.Property(m => m.Type).HasMaxLength(50);
            e.HasIndex(m => new { m.ConversationId, m.ActivityId }).IsUnique();
            e.HasIndex(m => new { m.ConversationId, m.Seq }).IsUnique(); // the transcript's order; NULLs (dispatcher rows) may repeat
            e.HasOne<ConversationRecord>().WithMany().HasForeignKey(m => m.ConversationId);
        });
        modelBuilder.Entity<EscalationRecord>(e =>
        {
            e.ToTable("escalations");
            e.HasKey(x => x.Id);
            e.Property(x => x.Key).HasMaxLength(200);
            e.HasIndex(x => x.Key).IsUnique();
            e.Property(x => x.ConversationId).HasMaxLength(200);
            e.Property(x => x.MessageActivityId).HasMaxLength(200);
            e.Property(x => x.Channel).HasMaxLength(50);
            e.Property(x => x.Level).HasMaxLength(20);
            e.Property(x => x.Status).HasMaxLength(20);
            e.HasIndex(x => new { x.Status, x.CreatedAt });
            e.Property(x => x.ClaimedById).HasMaxLength(450);
            e.Property(x => x.ClaimedByName).HasMaxLength(256);
            e.Property(x => x.Outcome).HasMaxLength(20);
            e.HasOne<ConversationRecord>().WithMany().HasForeignKey(x => x.ConversationId);
        });
        modelBuilder.Entity<EscalationDeliveryRecord>(e =>
        {
            e.ToTable("escalation_deliveries");
            e.HasKey(d => new { d.EscalationKey, d.Notifier });
            e.Property(d => d.EscalationKey).HasMaxLength(200);
            e.Property(d => d.Notifier).HasMaxLength(100);
        });
        modelBuilder.Entity<EscalationNoteRecord>(e =>
        {
            e.ToTable("escalation_notes");
            e.HasKey(n => n.Id);
            e.Property(n => n.AuthorId).HasMaxLength(450);
            e.Property(n => n.AuthorName).HasMaxLength(256);
            e.HasIndex(n => n.EscalationId);
            e.HasOne<EscalationRecord>().WithMany().HasForeignKey(n => n.EscalationId);
        });
        modelBuilder.Entity<TeamsChannelRecord>(e =>
        {
            e.ToTable("teams_channels");
            e.HasKey(t => t.TeamId);
            e.Property(t => t.TeamId).HasMaxLength(200);
            e.Property(t => t.ConversationId).HasMaxLength(200);
            e.Property(t => t.ServiceUrl).HasMaxLength(500);
            e.Property(t => t.TenantId).HasMaxLength(100);
        });
        modelBuilder.Entity<TeamsAlertRecord>(e =>
        {
            e.ToTable("teams_alerts");
            e.HasKey(a => a.EscalationId);
            e.Property(a => a.State).HasMaxLength(20);
            e.HasIndex(a => a.State);
            e.Property(a => a.ServiceUrl).HasMaxLength(500);
            e.Property(a => a.ConversationId).HasMaxLength(200);
            e.Property(a => a.ActivityId).HasMaxLength(200);
            e.Property(a => a.ShownStatus).HasMaxLength(20);
            e.Property(a => a.ShownOwner).HasMaxLength(256);
            e.Property(a => a.ShownOutcome).HasMaxLength(20);
            e.Property(a => a.UpdateError).HasMaxLength(200);
            e.HasOne<EscalationRecord>().WithOne().HasForeignKey<TeamsAlertRecord>(a => a.EscalationId);
        });
        modelBuilder.Entity<TeamsOverdueAlertRecord>(e =>
        {
            e.ToTable("teams_overdue_alerts");
            e.HasKey(o => new { o.EscalationId, o.Episode });
            e.Property(o => o.State).HasMaxLength(20);
            e.HasIndex(o => o.State);
            e.Property(o => o.ActivityId).HasMaxLength(200);
            e.HasOne<EscalationRecord>().WithMany().HasForeignKey(o => o.EscalationId);
        });
        modelBuilder.Entity<AuditEventRecord>(e =>
        {
            e.ToTable("audit_events");
            e.HasKey(a => a.Id);
            e.Property(a => a.ActorId).HasMaxLength(450);
            e.Property(a => a.ActorName).HasMaxLength(256);
            e.Property(a => a.Action).HasMaxLength(50);
            e.Property(a => a.ConversationId).HasMaxLength(200);
            e.Property(a => a.Detail).HasMaxLength(500);
            e.HasIndex(a => a.At);
            e.HasIndex(a => a.EscalationId);
        });

        modelBuilder.Entity<AnswerRecord>(e =>
        {
            e.ToTable("answers");
            e.HasKey(a => a.Id);
            e.Property(a => a.AnswerId).HasMaxLength(40);
            e.HasIndex(a => a.AnswerId).IsUnique();
            e.Property(a => a.ConversationId).HasMaxLength(200);
            e.Property(a => a.Channel).HasMaxLength(50);
            e.Property(a => a.QuestionActivityId).HasMaxLength(200);
            e.Property(a => a.ReplyActivityId).HasMaxLength(200);
            e.Property(a => a.SourcePath).HasMaxLength(300);
            e.Property(a => a.SourceSection).HasMaxLength(300);
            e.Property(a => a.HandledBy).HasMaxLength(256);
            e.HasIndex(a => a.CreatedAt);
            e.HasIndex(a => a.ConversationId);
        });

        PostgreSqlTextColumns(modelBuilder);

        // SQLite cannot order or compare DateTimeOffset; store UTC ticks' ISO text via a converter it can sort.
        if (Database.IsSqlite())
        {
            foreach (var entity in modelBuilder.Model.GetEntityTypes())
            {
                foreach (var property in entity.GetProperties().Where(p => p.ClrType == typeof(DateTimeOffset) || p.ClrType == typeof(DateTimeOffset?)))
                {
                    property.SetValueConverter(new Microsoft.EntityFrameworkCore.Storage.ValueConversion.DateTimeOffsetToBinaryConverter());
                }
            }
        }
    }

    /// <summary>
    /// The PostgreSQL provider's name, as <c>Database.IsNpgsql()</c> compares it; compared here as a string so that the
    /// model's code does not load the provider's assembly on SQLite (decision 0021).
    /// </summary>
    private const string PostgreSqlProvider = "Npgsql.EntityFrameworkCore.PostgreSQL";

    /// <summary>
    /// The lengths above are what the service expects, but SQLite never enforces a TEXT column's length, and a value
    /// that fits one provider must fit the other: on PostgreSQL a channel's over-long conversation id, or an
    /// escalation key built from two ids, would otherwise be refused with 22001 and the escalation would never land.
    /// So the service's own string columns are PostgreSQL <c>text</c> (as fast as varchar there); Identity's keep their
    /// lengths (its values are the service's own). Values are still bounded by the request size limits.
    /// </summary>
    private void PostgreSqlTextColumns(ModelBuilder modelBuilder)
    {
        if (Database.ProviderName != PostgreSqlProvider)
        {
            return;
        }

        foreach (var entity in modelBuilder.Model.GetEntityTypes().Where(e => e.ClrType.Namespace?.StartsWith("BotService.", StringComparison.Ordinal) == true))
        {
            foreach (var property in entity.GetProperties().Where(p => p.ClrType == typeof(string)))
            {
                property.SetMaxLength(null);
            }
        }
    }
}
