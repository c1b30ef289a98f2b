using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace BotService.Storage.Data.Migrations
{
    /// <inheritdoc />
    public partial class AnswerFeedback : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "answers",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    AnswerId = table.Column<string>(type: "TEXT", maxLength: 40, nullable: false),
                    ConversationId = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Channel = table.Column<string>(type: "TEXT", maxLength: 50, nullable: false),
                    QuestionActivityId = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    ReplyActivityId = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    Question = table.Column<string>(type: "TEXT", nullable: false),
                    Answered = table.Column<bool>(type: "INTEGER", nullable: false),
                    Confidence = table.Column<double>(type: "REAL", nullable: false),
                    SourcePath = table.Column<string>(type: "TEXT", maxLength: 300, nullable: true),
                    SourceSection = table.Column<string>(type: "TEXT", maxLength: 300, nullable: true),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    Vote = table.Column<int>(type: "INTEGER", nullable: true),
                    VotedAt = table.Column<long>(type: "INTEGER", nullable: true),
                    HandledAt = table.Column<long>(type: "INTEGER", nullable: true),
                    HandledBy = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_answers", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_answers_AnswerId",
                table: "answers",
                column: "AnswerId",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_answers_ConversationId",
                table: "answers",
                column: "ConversationId");

            migrationBuilder.CreateIndex(
                name: "IX_answers_CreatedAt",
                table: "answers",
                column: "CreatedAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "answers");
        }
    }
}
