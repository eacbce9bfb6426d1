"""releases, device groups, rollouts, device updates; users.is_admin

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False)


def _fk(column: str, table: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        _json("hardware"),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(512), nullable=False),
        _json("manifest"),
        sa.Column("key_id", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.Column("yanked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("version", name=op.f("uq_releases_version")),
    )
    op.create_index(op.f("ix_releases_channel"), "releases", ["channel"])
    op.create_table(
        "device_groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_device_groups_name")),
    )
    op.create_table(
        "device_group_members",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        _fk("group_id", "device_group_members", "device_groups", "CASCADE"),
        _fk("device_id", "device_group_members", "devices", "CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "device_id", name=op.f("pk_device_group_members")),
    )
    op.create_index(
        op.f("ix_device_group_members_device_id"), "device_group_members", ["device_id"]
    )
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("percentage", sa.Integer(), nullable=False),
        _json("steps"),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("failure_threshold", sa.Float(), nullable=False),
        sa.Column("min_sample", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("halted_reason", sa.String(500), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _fk("release_id", "rollouts", "releases", "CASCADE"),
        _fk("group_id", "rollouts", "device_groups", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    op.create_index(op.f("ix_rollouts_release_id"), "rollouts", ["release_id"])
    op.create_index(op.f("ix_rollouts_group_id"), "rollouts", ["group_id"])
    op.create_index(op.f("ix_rollouts_state"), "rollouts", ["state"])
    op.create_table(
        "device_updates",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("rollout_id", sa.Uuid(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("last_report_id", sa.String(64), nullable=True),
        _ts("last_report_at", nullable=True),
        _ts("updated_at"),
        _fk("device_id", "device_updates", "devices", "CASCADE"),
        _fk("release_id", "device_updates", "releases", "CASCADE"),
        _fk("rollout_id", "device_updates", "rollouts", "SET NULL"),
        sa.PrimaryKeyConstraint("device_id", "release_id", name=op.f("pk_device_updates")),
    )
    op.create_index(op.f("ix_device_updates_rollout_id"), "device_updates", ["rollout_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_device_updates_rollout_id"), table_name="device_updates")
    op.drop_table("device_updates")
    op.drop_index(op.f("ix_rollouts_state"), table_name="rollouts")
    op.drop_index(op.f("ix_rollouts_group_id"), table_name="rollouts")
    op.drop_index(op.f("ix_rollouts_release_id"), table_name="rollouts")
    op.drop_table("rollouts")
    op.drop_index(op.f("ix_device_group_members_device_id"), table_name="device_group_members")
    op.drop_table("device_group_members")
    op.drop_table("device_groups")
    op.drop_index(op.f("ix_releases_channel"), table_name="releases")
    op.drop_table("releases")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_admin")
