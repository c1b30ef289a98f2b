using Microsoft.EntityFrameworkCore;

namespace BotService.Storage.Data;

/// <summary>The service's database. SQLite by default; the model uses only portable types so PostgreSQL can follow.</summary>
public sealed class BotDbContext(DbContextOptions<BotDbContext> options) : DbContext(options)
{
    public DbSet<ConversationRecord> Conversations => Set<ConversationRecord>();

    public DbSet<MessageRecord> Messages => Set<MessageRecord>();

    public DbSet<EscalationRecord> Escalations => Set<EscalationRecord>();

    public DbSet<EscalationDeliveryRecord> EscalationDeliveries => Set<EscalationDeliveryRecord>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<ConversationRecord>(e =>
        {
            e.ToTable("conversations");
            e.HasKey(c => c.Id);
            e.Property(c => c.Id).HasMaxLength(200);
            e.Property(c => c.Channel).HasMaxLength(50);
            e.Property(c => c.UserId).HasMaxLength(200);
        });
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
            e.HasOne<ConversationRecord>().WithMany().HasForeignKey(x => x.ConversationId);
        });
        modelBuilder.Entity<EscalationDeliveryRecord>(e =>
        {
            e.ToTable("escalation_deliveries");
            e.HasKey(d => new { d.EscalationKey, d.Notifier });
            e.Property(d => d.EscalationKey).HasMaxLength(200);
            e.Property(d => d.Notifier).HasMaxLength(100);
        });

        // SQLite cannot order or compare DateTimeOffset; store UTC ticks' ISO text via a converter it can sort.
        if (Database.IsSqlite())
        {
            foreach (var entity in modelBuilder.Model.GetEntityTypes())
            {
                foreach (var property in entity.GetProperties().Where(p => p.ClrType == typeof(DateTimeOffset)))
                {
                    property.SetValueConverter(new Microsoft.EntityFrameworkCore.Storage.ValueConversion.DateTimeOffsetToBinaryConverter());
                }
            }
        }
    }
}
