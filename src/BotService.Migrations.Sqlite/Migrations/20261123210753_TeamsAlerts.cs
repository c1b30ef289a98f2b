using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace BotService.Storage.Data.Migrations
{
    /// <inheritdoc />
    public partial class TeamsAlerts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "ReopenCount",
                table: "escalations",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.CreateTable(
                name: "teams_alerts",
                columns: table => new
                {
                    EscalationId = table.Column<Guid>(type: "TEXT", nullable: false),
                    State = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    QueuedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    PostedAt = table.Column<long>(type: "INTEGER", nullable: true),
                    ServiceUrl = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true),
                    ConversationId = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    ActivityId = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    ShownStatus = table.Column<string>(type: "TEXT", maxLength: 20, nullable: true),
                    ShownOwner = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true),
                    ShownOutcome = table.Column<string>(type: "TEXT", maxLength: 20, nullable: true),
                    ShownReopenCount = table.Column<int>(type: "INTEGER", nullable: false),
                    UpdateError = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_teams_alerts", x => x.EscalationId);
                    table.ForeignKey(
                        name: "FK_teams_alerts_escalations_EscalationId",
                        column: x => x.EscalationId,
                        principalTable: "escalations",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "teams_channels",
                columns: table => new
                {
                    TeamId = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    ConversationId = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    ServiceUrl = table.Column<string>(type: "TEXT", maxLength: 500, nullable: false),
                    TenantId = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    AddedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_teams_channels", x => x.TeamId);
                });

            migrationBuilder.CreateTable(
                name: "teams_overdue_alerts",
                columns: table => new
                {
                    EscalationId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Episode = table.Column<int>(type: "INTEGER", nullable: false),
                    State = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    DueAt = table.Column<long>(type: "INTEGER", nullable: false),
                    DoneAt = table.Column<long>(type: "INTEGER", nullable: true),
                    ActivityId = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_teams_overdue_alerts", x => new { x.EscalationId, x.Episode });
                    table.ForeignKey(
                        name: "FK_teams_overdue_alerts_escalations_EscalationId",
                        column: x => x.EscalationId,
                        principalTable: "escalations",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_teams_alerts_State",
                table: "teams_alerts",
                column: "State");

            migrationBuilder.CreateIndex(
                name: "IX_teams_overdue_alerts_State",
                table: "teams_overdue_alerts",
                column: "State");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "teams_alerts");

            migrationBuilder.DropTable(
                name: "teams_channels");

            migrationBuilder.DropTable(
                name: "teams_overdue_alerts");

            migrationBuilder.DropColumn(
                name: "ReopenCount",
                table: "escalations");
        }
    }
}
