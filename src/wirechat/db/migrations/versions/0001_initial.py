"""Initial schema: users, rooms, room members, messages and room events.

Revision ID: 0001
Revises:
Create Date: 2026-01-31

Written by hand to run unchanged on SQLite and PostgreSQL: ids are BIGINT on PostgreSQL
and INTEGER PRIMARY KEY (the rowid) on SQLite; times are timezone-aware timestamps
holding UTC. Constraint names follow ``wirechat.chat.models.NAMING_CONVENTION``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("username_lower", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username_lower", name="uq_users_username_lower"),
    )
    op.create_table(
        "rooms",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("is_private", sa.Boolean(), nullable=False),
        sa.Column("is_direct", sa.Boolean(), nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("direct_key", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rooms"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_rooms_owner_id_users"),
        sa.UniqueConstraint("direct_key", name="uq_rooms_direct_key"),
    )
    op.create_index("ix_rooms_is_private_id", "rooms", ["is_private", "id"])
    op.create_table(
        "room_members",
        sa.Column("room_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("joined_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_room_members"),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name="fk_room_members_room_id_rooms", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_room_members_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_room_members_user_id", "room_members", ["user_id"])
    op.create_table(
        "messages",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("author_id", ID, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("client_message_id", sa.String(64), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("edited_at", TIME, nullable=True),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name="fk_messages_room_id_rooms", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name="fk_messages_author_id_users"),
        sa.UniqueConstraint(
            "author_id", "client_message_id", name="uq_messages_author_id_client_message_id"
        ),
    )
    op.create_index("ix_messages_room_id_id", "messages", ["room_id", "id"])
    op.create_table(
        "room_events",
        sa.Column("room_id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("room_id", "seq", name="pk_room_events"),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name="fk_room_events_room_id_rooms", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_room_events_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("type IN ('created', 'edited', 'deleted')", name="ck_room_events_type"),
    )
    op.create_index("ix_room_events_message_id", "room_events", ["message_id"])


def downgrade() -> None:
    op.drop_table("room_events")
    op.drop_table("messages")
    op.drop_table("room_members")
    op.drop_table("rooms")
    op.drop_table("users")
