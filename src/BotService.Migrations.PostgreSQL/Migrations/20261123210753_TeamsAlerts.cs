using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace BotService.Migrations.PostgreSQL.Migrations
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
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.CreateTable(
                name: "teams_alerts",
                columns: table => new
                {
                    EscalationId = table.Column<Guid>(type: "uuid", nullable: false),
                    State = table.Column<string>(type: "text", nullable: false),
                    QueuedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    PostedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    ServiceUrl = table.Column<string>(type: "text", nullable: true),
                    ConversationId = table.Column<string>(type: "text", nullable: true),
                    ActivityId = table.Column<string>(type: "text", nullable: true),
                    ShownStatus = table.Column<string>(type: "text", nullable: true),
                    ShownOwner = table.Column<string>(type: "text", nullable: true),
                    ShownOutcome = table.Column<string>(type: "text", nullable: true),
                    ShownReopenCount = table.Column<int>(type: "integer", nullable: false),
                    UpdateError = table.Column<string>(type: "text", nullable: true)
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
                    TeamId = table.Column<string>(type: "text", nullable: false),
                    ConversationId = table.Column<string>(type: "text", nullable: false),
                    ServiceUrl = table.Column<string>(type: "text", nullable: false),
                    TenantId = table.Column<string>(type: "text", nullable: false),
                    AddedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_teams_channels", x => x.TeamId);
                });

            migrationBuilder.CreateTable(
                name: "teams_overdue_alerts",
                columns: table => new
                {
                    EscalationId = table.Column<Guid>(type: "uuid", nullable: false),
                    Episode = table.Column<int>(type: "integer", nullable: false),
                    State = table.Column<string>(type: "text", nullable: false),
                    DueAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    DoneAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    ActivityId = table.Column<string>(type: "text", nullable: true)
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
