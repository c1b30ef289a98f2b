using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace BotService.Storage.Data.Migrations
{
    /// <inheritdoc />
    public partial class Transcript : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "ActivityJson",
                table: "messages",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "Seq",
                table: "messages",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Type",
                table: "messages",
                type: "TEXT",
                maxLength: 50,
                nullable: false,
                defaultValue: "message");

            migrationBuilder.AddColumn<string>(
                name: "UserId",
                table: "conversations",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_messages_ConversationId_Seq",
                table: "messages",
                columns: new[] { "ConversationId", "Seq" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_messages_ConversationId_Seq",
                table: "messages");

            migrationBuilder.DropColumn(
                name: "ActivityJson",
                table: "messages");

            migrationBuilder.DropColumn(
                name: "Seq",
                table: "messages");

            migrationBuilder.DropColumn(
                name: "Type",
                table: "messages");

            migrationBuilder.DropColumn(
                name: "UserId",
                table: "conversations");
        }
    }
}
