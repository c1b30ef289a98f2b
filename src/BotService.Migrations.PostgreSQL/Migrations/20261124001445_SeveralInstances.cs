using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace BotService.Migrations.PostgreSQL.Migrations
{
    /// <inheritdoc />
    public partial class SeveralInstances : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "conversation_seqs",
                columns: table => new
                {
                    ConversationId = table.Column<string>(type: "text", nullable: false),
                    LastSeq = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_conversation_seqs", x => x.ConversationId);
                });

            migrationBuilder.CreateTable(
                name: "data_protection_keys",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    FriendlyName = table.Column<string>(type: "text", nullable: true),
                    Xml = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_data_protection_keys", x => x.Id);
                });

            // Hand-written (the same for both providers): each conversation's counter starts at its highest stored
            // number, so numbers handed out from the database follow the ones handed out from memory before.
            migrationBuilder.Sql("""
                INSERT INTO conversation_seqs ("ConversationId", "LastSeq")
                SELECT "ConversationId", MAX("Seq") FROM messages WHERE "Seq" IS NOT NULL GROUP BY "ConversationId"
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "conversation_seqs");

            migrationBuilder.DropTable(
                name: "data_protection_keys");
        }
    }
}
